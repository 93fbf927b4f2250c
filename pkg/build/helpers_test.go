package build_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/ingot-build/ingot/internal/debtest"
	"github.com/ingot-build/ingot/pkg/build"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// testEpoch is the SOURCE_DATE_EPOCH of most tests: after debtest's default mtime, so nothing is clamped
// unless a test says so.
func testEpoch() time.Time { return time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC) }

// pkg builds a .deb with debtest and wraps it as a build.Package.
func pkg(t testing.TB, p debtest.Package) build.Package {
	t.Helper()
	if p.Version == "" {
		p.Version = "1.0-1"
	}
	return build.Package{Name: p.Name, Version: p.Version, Source: sourceName(p.Source), SHA256: "00", Deb: debtest.MustBuild(t, p)}
}

func sourceName(s string) string {
	for i := range len(s) {
		if s[i] == ' ' {
			return s[:i]
		}
	}
	return s
}

// nonroot is what the CLI passes by default.
func nonroot() build.Accounts {
	return build.Accounts{
		Groups: []build.Group{{Name: "nonroot", GID: 65532}},
		Users:  []build.User{{Name: "nonroot", UID: 65532, GID: 65532, Home: "/home/nonroot"}},
		RunAs:  "nonroot",
	}
}

func mustImage(t testing.TB, opt build.Options) v1.Image {
	t.Helper()
	img, err := build.Image(context.Background(), opt)
	if err != nil {
		t.Fatalf("Image: %v", err)
	}
	return img
}

func digest(t testing.TB, img interface{ Digest() (v1.Hash, error) }) v1.Hash {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// fsEntry is one file of an image's flattened file system.
type fsEntry struct {
	hdr  *tar.Header
	data []byte
}

// flatten reads the image back with ggcr, as a runtime would see it.
func flatten(t testing.TB, img v1.Image) map[string]fsEntry {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	out := map[string]fsEntry{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = fsEntry{hdr: h, data: data}
	}
}

// layerHeaders returns the tar headers of a layer exactly as written.
func layerHeaders(t testing.TB, l v1.Layer) ([]*tar.Header, map[string][]byte) {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var hdrs []*tar.Header
	data := map[string][]byte{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return hdrs, data
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		hdrs = append(hdrs, h)
		data[h.Name] = b
	}
}

func layers(t testing.TB, img v1.Image) []v1.Layer {
	t.Helper()
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	return ls
}

func configFile(t testing.TB, img v1.Image) *v1.ConfigFile {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	return cf
}

// golden compares got with testdata/name, rewriting it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("reading golden file (run with -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}
