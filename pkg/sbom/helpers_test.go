package sbom

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// tfile is one entry of a hand-made layer: a regular file unless dir or link is set.
type tfile struct {
	name string
	body []byte
	dir  bool
	link string // symlink target
}

func file(name, body string) tfile          { return tfile{name: name, body: []byte(body)} }
func fileBytes(name string, b []byte) tfile { return tfile{name: name, body: b} }
func dir(name string) tfile                 { return tfile{name: name, dir: true} }
func symlink(name, target string) tfile     { return tfile{name: name, link: target} }

// whiteout deletes name from the layers below; opaque hides everything below dir.
func whiteout(name string) tfile {
	d, b := filepath.Split(name)
	return file(d+".wh."+b, "")
}
func opaque(dir string) tfile { return file(dir+"/.wh..wh..opq", "") }

// fixture reads a file under testdata.
func fixture(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func layerOf(t testing.TB, files ...tfile) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mt := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: 0o644, ModTime: mt, Typeflag: tar.TypeReg, Size: int64(len(f.body))}
		switch {
		case f.dir:
			h.Typeflag, h.Mode, h.Size = tar.TypeDir, 0o755, 0
		case f.link != "":
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, f.link, 0
		case len(f.body) > 4 && string(f.body[:4]) == "\x7fELF":
			h.Mode = 0o755
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(f.body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return rawLayer(t, buf.Bytes())
}

// rawLayer is a layer whose uncompressed content is data, tar or not.
func rawLayer(t testing.TB, data []byte) v1.Layer {
	t.Helper()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func imageOf(t testing.TB, layers ...v1.Layer) v1.Image {
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
	cf.OS, cf.Architecture = "linux", "amd64"
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// goTool is the go command of the toolchain running the tests.
func goTool(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("go")
	if err != nil {
		t.Fatal("no go tool to build the test binary with")
	}
	return p
}

// goList is the version of module this module builds with.
func goList(t testing.TB, module string) string {
	t.Helper()
	cmd := exec.Command(goTool(t), "list", "-m", "-f", "{{.Version}}", module)
	cmd.Env = append(os.Environ(), "GOFLAGS=-buildvcs=false", "GOPROXY=off")
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -m %s: %v", module, err)
	}
	return strings.TrimSpace(string(b))
}

// goBinary builds testdata/gobin, a program that links golang.org/x/sync, and returns its bytes.
func goBinary(t testing.TB) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "gobin")
	cmd := exec.Command(goTool(t), "build", "-trimpath", "-o", out, "./testdata/gobin")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false", "GOPROXY=off")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
