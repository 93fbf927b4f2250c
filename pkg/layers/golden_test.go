package layers_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/zstd"

	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/harden"
	"github.com/ingot-build/ingot/pkg/imagetest"
	"github.com/ingot-build/ingot/pkg/sbom"
	"github.com/ingot-build/ingot/pkg/secrets"
)

// update rewrites the golden files from what the stages report now. The files were first written by
// the stages as they were before the layer walker, each with its own layer reading: the walker must
// leave every result byte for byte as it was.
var update = flag.Bool("update", false, "rewrite testdata/golden")

// ent is one entry of a hand-made layer.
type ent struct {
	hdr  tar.Header
	body string
}

func reg(name string, mode int64, body string) ent {
	return ent{hdr: tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: mode}, body: body}
}
func dir(name string, mode int64) ent {
	return ent{hdr: tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: mode}}
}
func sym(name, target string) ent {
	return ent{hdr: tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o777}}
}
func hard(name, target string) ent {
	return ent{hdr: tar.Header{Name: name, Typeflag: tar.TypeLink, Linkname: target}}
}
func wh(dir, name string) ent { return reg(dir+".wh."+name, 0o644, "") }
func opq(dir string) ent      { return reg(dir+"/.wh..wh..opq", 0o644, "") }
func owned(e ent, uid int) ent {
	e.hdr.Uid, e.hdr.Gid = uid, uid
	return e
}

// tarOf writes entries as an uncompressed tar stream.
func tarOf(t testing.TB, es ...ent) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range es {
		h := e.hdr
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		h.ModTime = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// gzipLayer is a gzip layer built in memory, as go-containerregistry builds them.
func gzipLayer(t testing.TB, es ...ent) v1.Layer {
	t.Helper()
	data := tarOf(t, es...)
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// plainLayer is an uncompressed layer: its blob is the tar stream.
func plainLayer(t testing.TB, es ...ent) v1.Layer {
	t.Helper()
	return static.NewLayer(tarOf(t, es...), types.OCIUncompressedLayer)
}

// zstdLayer is a zstd layer.
func zstdLayer(t testing.TB, es ...ent) v1.Layer {
	t.Helper()
	var b bytes.Buffer
	zw, err := zstd.NewWriter(&b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(tarOf(t, es...)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	data := b.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
		tarball.WithMediaType(types.OCILayerZStd))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func imageOf(t testing.TB, cfg v1.Config, ls ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, ls...)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Config = "linux", "amd64", cfg
	cf.Created = v1.Time{Time: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	return img
}

func testdata(t testing.TB, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fixtures are the images the golden files describe: what the stage tests build, gathered into
// stacks that exercise each stage on every kind of layer entry the walker handles.
func fixtures(t testing.TB) map[string]v1.Image {
	t.Helper()
	status := testdata(t, "sbom/testdata/dpkg/status")
	passwd := testdata(t, "harden/testdata/accounts/passwd")
	group := testdata(t, "harden/testdata/accounts/group")
	shadow := testdata(t, "harden/testdata/accounts/shadow")
	aws := testdata(t, "secrets/testdata/positives/aws.txt")
	gh := testdata(t, "secrets/testdata/positives/github-token.txt")
	elf := "\x7fELF\x02\x01\x01\x00" + string(make([]byte, 120))
	debian := []ent{
		dir("etc", 0o755), dir("usr", 0o755), dir("usr/lib", 0o755), dir("usr/bin", 0o755),
		reg("usr/lib/os-release", 0o644, testdata(t, "sbom/testdata/os-release/debian")),
		sym("etc/os-release", "../usr/lib/os-release"),
		dir("var/lib/dpkg", 0o755), reg("var/lib/dpkg/status", 0o644, status),
		reg("var/lib/dpkg/info/libc6:amd64.md5sums", 0o644, "x  lib/libc.so.6\n"),
		reg("var/lib/dpkg/info/base-files.md5sums", 0o644, "x  etc/issue\n"),
		reg("usr/share/doc/base-files/copyright", 0o644, testdata(t, "sbom/testdata/copyright/dep5")),
		reg("usr/share/doc/libc6/copyright", 0o644, testdata(t, "sbom/testdata/copyright/prose")),
		reg("etc/passwd", 0o644, passwd), reg("etc/group", 0o644, group), owned(reg("etc/shadow", 0o640, shadow), 0),
		reg("bin/bash", 0o755, elf), reg("usr/bin/apt-get", 0o755, elf),
		reg("usr/bin/passwd", 0o4755, elf), dir("tmp", 0o1777), dir("srv/drop", 0o777),
	}
	imgs := map[string]v1.Image{}
	imgs["debian"] = imageOf(t, v1.Config{User: "1000", Env: []string{"PATH=/usr/bin"}},
		gzipLayer(t, debian...),
		gzipLayer(t,
			reg("root/.aws/credentials", 0o600, aws),
			reg("etc/app/config", 0o644, "token: "+gh),
		),
		gzipLayer(t, wh("root/.aws/", "credentials"), wh("usr/bin/", "apt-get")),
	)
	imgs["stacks"] = imageOf(t, v1.Config{User: "root", Env: []string{"GITHUB_TOKEN=ghp_bSvej8IzWzeSnugdfOt7YcqoVcVCHWt1RPun"}},
		gzipLayer(t,
			dir("etc", 0o755), reg("etc/passwd", 0o644, passwd), reg("etc/group", 0o644, group),
			dir("opt/app", 0o755), reg("opt/app/secret.env", 0o600, aws), reg("opt/app/keep", 0o644, "x"),
			dir("data", 0o777), reg("data/a", 0o666, gh), reg("data/b", 0o644, "plain"),
			reg("srv/orig", 0o4755, "setuid"), reg("srv/cfg", 0o644, gh),
			reg("lib/apk/db/installed", 0o644, testdata(t, "sbom/testdata/apk/installed")),
			reg("etc/os-release", 0o644, testdata(t, "sbom/testdata/os-release/alpine")),
		),
		// A directory whited out and made again; an opaque directory; a hard link made before its
		// target is deleted; a file replaced by a symlink.
		zstdLayer(t,
			wh("", "opt"), dir("opt", 0o755), dir("opt/app", 0o700), reg("opt/app/new", 0o644, "fresh"),
			opq("data"), reg("data/c", 0o600, "c"),
			hard("srv/link", "srv/orig"), wh("srv/", "orig"),
			sym("srv/cfg", "/etc/passwd"),
		),
		plainLayer(t,
			reg("usr/lib/node_modules/left-pad/package.json", 0o644, testdata(t, "sbom/testdata/npm/package.json")),
			reg("usr/lib/python3/site-packages/requests-2.31.0.dist-info/METADATA", 0o644, testdata(t, "sbom/testdata/python/requests-2.31.0.dist-info/METADATA")),
			wh("lib/apk/db/", "installed"),
		),
	)
	return imgs
}

// suite is the structure tests the golden files run: file existence, content and metadata (command
// tests need runc and root, and are reported skipped or run elsewhere).
func suite() *imagetest.Suite {
	return &imagetest.Suite{
		SchemaVersion: "2.0.0",
		FileExistenceTests: []imagetest.FileExistenceTest{
			{Name: "passwd", Path: "/etc/passwd", ShouldExist: true, Permissions: "-rw-r--r--"},
			{Name: "gone", Path: "/root/.aws/credentials", ShouldExist: false},
			{Name: "opt new", Path: "/opt/app/new", ShouldExist: true},
			{Name: "opt secret gone", Path: "/opt/app/secret.env", ShouldExist: false},
			{Name: "data a gone", Path: "/data/a", ShouldExist: false},
			{Name: "link", Path: "/srv/link", ShouldExist: true, Permissions: "-rwsr-xr-x"},
			{Name: "orig", Path: "/srv/orig", ShouldExist: false},
			{Name: "apt", Path: "/usr/bin/apt-get", ShouldExist: false},
		},
		FileContentTests: []imagetest.FileContentTest{
			{Name: "os-release", Path: "/etc/os-release", ExpectedContents: []string{"ID=(debian|alpine)"}},
			{Name: "cfg", Path: "/srv/cfg", ExpectedContents: []string{"^root:"}},
			{Name: "new", Path: "/opt/app/new", ExpectedContents: []string{"^fresh$"}},
		},
		MetadataTest: &imagetest.MetadataTest{User: "root"},
	}
}

func TestGolden(t *testing.T) {
	ctx := context.Background()
	for name, img := range fixtures(t) {
		t.Run(name, func(t *testing.T) {
			got := map[string]any{}
			inv, err := sbom.Inventory(ctx, img, sbom.Options{Ref: name})
			if err != nil {
				t.Fatal(err)
			}
			got["sbom"] = inv
			doc, err := sbom.SPDX(inv, sbom.DocOptions{Created: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), ToolVersion: "golden"})
			if err != nil {
				t.Fatal(err)
			}
			got["spdx"] = json.RawMessage(doc)
			sec, err := secrets.Scan(ctx, img, secrets.Options{})
			if err != nil {
				t.Fatal(err)
			}
			got["secrets"] = sec
			for _, p := range []harden.Profile{harden.ProfileMinimal, harden.ProfileCIS} {
				lint, err := harden.Lint(ctx, img, harden.Options{Profile: p, Secrets: func(ctx context.Context, img v1.Image) ([]evidence.Finding, error) {
					return secrets.Scan(ctx, img, secrets.Options{})
				}})
				if err != nil {
					t.Fatal(err)
				}
				got["lint-"+string(p)] = lint
			}
			tests, err := imagetest.Run(ctx, img, suite(), imagetest.Options{})
			if err != nil {
				t.Fatal(err)
			}
			got["test"] = tests
			for stage, v := range got {
				checkGolden(t, name, stage, v)
			}
		})
	}
}

// checkGolden compares v, as JSON, with the golden file of the stage on the image name.
func checkGolden(t *testing.T, name, stage string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	file := filepath.Join("testdata", "golden", name+"."+stage+".json")
	if *update {
		if err := os.WriteFile(file, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, want) {
		t.Errorf("%s: the %s result changed:\n%s", name, stage, b)
	}
}

// plainBytes is an uncompressed layer held in memory, cheap enough to build per fuzz input.
func plainBytes(data []byte) v1.Layer {
	return static.NewLayer(data, types.OCIUncompressedLayer)
}
