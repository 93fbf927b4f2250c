package imageref

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ingot-build/ingot/internal/regtest"
	"github.com/ingot-build/ingot/pkg/fault"
	"github.com/ingot-build/ingot/pkg/publish"
)

// offline returns Options whose registry transport fails on anything but loopback, and the transport
// to ask what was refused.
func offline(store publish.Layouts) (Options, *regtest.Offline) {
	o := regtest.OfflineTransport(nil)
	return Options{Layouts: store, Remote: []remote.Option{remote.WithTransport(o)}}, o
}

// writeTar writes a tar of the given entries (name → content), in order.
func writeTar(t *testing.T, path string, entries ...[2]string) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		if err := tw.WriteHeader(&tar.Header{Name: e[0], Mode: 0o644, Size: int64(len(e[1])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e[1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// tarDir writes the regular files under dir to a tar at path.
func tarDir(t *testing.T, dir, path string) {
	t.Helper()
	var entries [][2]string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		entries = append(entries, [2]string{filepath.ToSlash(rel), string(data)})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	writeTar(t, path, entries...)
}

// TestLocalPathsStayLocal names files and layouts that do not exist: each is "no such file", bad
// input, and nothing is asked of any registry.
func TestLocalPathsStayLocal(t *testing.T) {
	t.Chdir(t.TempDir())
	opt, o := offline(publish.Layouts{Root: t.TempDir()})
	for _, ref := range []string{
		"./none.tar", "/nonexistent/x.tar", "oci:./nope", "oci:./nope:1.0", "../missing", "./missing-dir",
		"none.tar", "none.tar.gz", "docker-archive:none", "docker-archive:./x.tar", "~/x.tar", "~",
	} {
		_, err := Open(context.Background(), ref, opt)
		if !errors.Is(err, ErrNoSuchFile) || fault.Of(err) != fault.Invalid || !strings.Contains(err.Error(), "no such file") {
			t.Errorf("Open(%q) = %v, want no such file (invalid input)", ref, err)
		}
	}
	// A bare name ending in .tar could also be a repository: the error says how to ask for that.
	if _, err := Open(context.Background(), "app.tar", opt); err == nil || !strings.Contains(err.Error(), "registry:app.tar") {
		t.Errorf("Open(app.tar) = %v, want a hint at registry:app.tar", err)
	}
	if r := o.Refused(); len(r) > 0 {
		t.Errorf("local paths reached for the network: %v", r)
	}
}

// TestNotAnImage names files and directories that exist but are not what they are named as: each is
// bad input, with a message saying what the file is not.
func TestNotAnImage(t *testing.T) {
	ctx := context.Background()
	tmp := t.TempDir()
	single := img(t)
	store := publish.Layouts{Root: filepath.Join(tmp, "store")}
	if _, err := store.Write(ctx, "app", "1.0", publish.Artifact{Image: single}); err != nil {
		t.Fatal(err)
	}
	layoutDir := store.Dir("app")
	archive := filepath.Join(tmp, "app.tar")
	if err := publish.WriteTarball(archive, "app:1.0", publish.Artifact{Image: single}); err != nil {
		t.Fatal(err)
	}
	whole, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) string {
		p := filepath.Join(tmp, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	random := write("random.tar", bytes.Repeat([]byte{0x17, 0xd3, 0x5a, 0x81, 0x00, 0xff, 0x3c}, 400))
	empty := write("empty.tar", nil)
	truncated := write("truncated.tar", whole[:len(whole)*2/3])
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(whole)
	_ = zw.Close()
	compressed := write("app.tar.gz", gz.Bytes())
	noManifest := filepath.Join(tmp, "plain.tar")
	writeTar(t, noManifest, [2]string{"etc/hostname", "box\n"})
	ociTar := filepath.Join(tmp, "oci.tar")
	tarDir(t, layoutDir, ociTar)
	partial := filepath.Join(tmp, "partial.tar")
	writeTar(t, partial,
		[2]string{"config.json", `{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`},
		[2]string{"manifest.json", `[{"Config":"config.json","RepoTags":["app:1.0"],"Layers":["layer1.tar","layer2.tar"]}]`},
	)
	badManifest := filepath.Join(tmp, "badmanifest.tar")
	writeTar(t, badManifest, [2]string{"manifest.json", `{"not": "a list"}`})

	noIndex := filepath.Join(tmp, "noindex")
	if err := os.Mkdir(noIndex, 0o755); err != nil {
		t.Fatal(err)
	}
	badIndex := filepath.Join(tmp, "badindex")
	if err := os.Mkdir(badIndex, 0o755); err != nil {
		t.Fatal(err)
	}
	write(filepath.Join("badindex", "index.json"), []byte("\x00\x01 not json"))
	// A layout copied in part: one layer blob missing, and one cut short.
	copyLayout := func(dst string) string {
		if err := os.CopyFS(dst, os.DirFS(layoutDir)); err != nil {
			t.Fatal(err)
		}
		return dst
	}
	layers, err := single.Layers()
	if err != nil {
		t.Fatal(err)
	}
	ld, _ := layers[0].Digest()
	missingBlob := copyLayout(filepath.Join(tmp, "missingblob"))
	if err := os.Remove(filepath.Join(missingBlob, "blobs", ld.Algorithm, ld.Hex)); err != nil {
		t.Fatal(err)
	}
	shortBlob := copyLayout(filepath.Join(tmp, "shortblob"))
	if err := os.Truncate(filepath.Join(shortBlob, "blobs", ld.Algorithm, ld.Hex), 10); err != nil {
		t.Fatal(err)
	}

	opt, o := offline(store)
	for _, tc := range []struct {
		ref, want string
		is        error
	}{
		{random, "is not a tar archive", ErrArchive},
		{"docker-archive:" + random, "is not a tar archive", ErrArchive},
		{empty, "empty tar archive", ErrArchive},
		{truncated, "truncated or damaged", ErrArchive},
		{compressed, "gzip-compressed", ErrArchive},
		{noManifest, "without manifest.json, not a docker archive", ErrArchive},
		{ociTar, "OCI layout in a tar", ErrArchive},
		{partial, "lacks layer1.tar, layer2.tar", ErrArchive},
		{badManifest, "not a docker archive manifest", ErrArchive},
		{"docker-archive:" + layoutDir, "is a directory, not a docker archive", ErrArchive},
		{noIndex, "without index.json, not an OCI layout", ErrLayout},
		{"oci:" + noIndex, "without index.json, not an OCI layout", ErrLayout},
		{"oci:" + archive, "is a file, not an OCI layout", ErrLayout},
		{badIndex, "index.json is not an OCI image index", ErrLayout},
		// A layout whose index names blobs it lacks is damaged, not misnamed: an integrity error.
		{"oci:" + missingBlob, "lacks the blob " + ld.String(), publish.ErrIntegrity},
		{"oci:" + shortBlob, "truncated", publish.ErrIntegrity},
	} {
		_, err := Open(ctx, tc.ref, opt)
		t.Logf("%s: %v", filepath.Base(tc.ref), err)
		wantKind := fault.Invalid
		if errors.Is(tc.is, publish.ErrIntegrity) {
			wantKind = fault.Integrity
		}
		if !errors.Is(err, tc.is) || fault.Of(err) != wantKind || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%s) = %v, want %v saying %q", filepath.Base(tc.ref), err, tc.is, tc.want)
		}
	}
	if r := o.Refused(); len(r) > 0 {
		t.Errorf("local files reached for the network: %v", r)
	}
	// The checks do not refuse what is whole.
	for _, ref := range []string{archive, "docker-archive:" + archive, "oci:" + layoutDir + ":1.0", layoutDir} {
		if _, err := Open(ctx, ref, opt); err != nil {
			t.Errorf("Open(%s): %v", ref, err)
		}
	}
}

// TestRegistryPrefix: registry: sends a name that looks like a file to the registry, and a reference
// that does not parse is bad input that asks nothing of the network.
func TestRegistryPrefix(t *testing.T) {
	ctx := context.Background()
	host := regtest.Registry(t)
	single := img(t)
	ref := host + "/golden/app.tar"
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, single); err != nil {
		t.Fatal(err)
	}
	opt, o := offline(publish.Layouts{Root: t.TempDir()})
	if _, err := Open(ctx, ref, opt); !errors.Is(err, ErrNoSuchFile) {
		t.Errorf("without the prefix, %s is a file: %v", ref, err)
	}
	got, err := Open(ctx, RegistryPrefix+ref, opt)
	if err != nil {
		t.Fatal(err)
	}
	if got.Kind != "registry" || digest(t, got.Image) != digest(t, single) {
		t.Errorf("registry:%s opened %s %v", ref, got.Kind, digest(t, got.Image))
	}
	for _, bad := range []string{"Not/A:Ref!!", "registry:", "UPPER/case", "app@sha256:abc"} {
		_, err := Open(ctx, bad, opt)
		if !errors.Is(err, ErrReference) || fault.Of(err) != fault.Invalid {
			t.Errorf("Open(%q) = %v, want an invalid reference", bad, err)
		}
	}
	if r := o.Refused(); len(r) > 0 {
		t.Errorf("reached beyond loopback: %v", r)
	}
}
