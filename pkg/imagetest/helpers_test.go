package imagetest

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/ingot-build/ingot/internal/regtest"
)

// entry is one tar entry of a hand-made layer.
type entry struct {
	name     string
	typ      byte
	mode     int64
	uid, gid int
	body     []byte
	link     string
}

func dirE(name string, mode int64) entry { return entry{name: name, typ: tar.TypeDir, mode: mode} }
func fileE(name string, mode int64, body string) entry {
	return entry{name: name, typ: tar.TypeReg, mode: mode, body: []byte(body)}
}
func symE(name, target string) entry {
	return entry{name: name, typ: tar.TypeSymlink, mode: 0o777, link: target}
}
func linkE(name, target string) entry {
	return entry{name: name, typ: tar.TypeLink, mode: 0o644, link: target}
}
func whiteE(name string) entry { return entry{name: name, typ: tar.TypeReg, mode: 0o600} }

func tarBytes(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Uid: e.uid, Gid: e.gid, Linkname: e.link, Format: tar.FormatPAX}
		if e.typ == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func layerOf(t testing.TB, entries ...entry) v1.Layer {
	t.Helper()
	b := tarBytes(t, entries...)
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// imageOf makes a linux image for arch from layers and a config.
func imageOf(t testing.TB, arch string, cfg v1.Config, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Config = "linux", arch, cfg
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	return img
}

// baseEntries is a minimal distroless-like root: accounts, os-release, /tmp.
func baseEntries() []entry {
	return []entry{
		dirE("etc", 0o755),
		fileE("etc/passwd", 0o644, "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"),
		fileE("etc/group", 0o644, "root:x:0:\naudio:x:29:nonroot\nnonroot:x:65532:\n"),
		dirE("usr", 0o755), dirE("usr/lib", 0o755),
		fileE("usr/lib/os-release", 0o644, "PRETTY_NAME=\"Fixture GNU/Linux\"\nID=debian\nVERSION_ID=\"12\"\n"),
		symE("etc/os-release", "../usr/lib/os-release"),
		{name: "home/nonroot", typ: tar.TypeDir, mode: 0o700, uid: 65532, gid: 65532},
		{name: "tmp", typ: tar.TypeDir, mode: 0o1777},
	}
}

// buildTools compiles examples/hello and testdata/probe statically into a new directory.
func buildTools(t *testing.T) (hello, probe []byte) {
	t.Helper()
	dir := t.TempDir()
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go") //nolint:staticcheck // SA1019: tests run where they were built
	cmd := exec.Command(goBin, "build", "-trimpath", "-o", dir+"/", "../../examples/hello", "./testdata/probe")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building test programs: %v\n%s", err, out)
	}
	var err error
	if hello, err = os.ReadFile(filepath.Join(dir, "hello")); err != nil {
		t.Fatal(err)
	}
	if probe, err = os.ReadFile(filepath.Join(dir, "probe")); err != nil {
		t.Fatal(err)
	}
	return hello, probe
}

// needRunc returns runc's path when command tests can run here. Without runc or root the test is
// skipped, except under CI, where .ci/run installs runc and runs as root, so it is a failure.
func needRunc(t *testing.T) string {
	t.Helper()
	p := regtest.Peer(t, "runc")
	regtest.Root(t, "runc")
	return p
}
