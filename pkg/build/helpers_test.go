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

// checkImage verifies what a registry and a runtime rely on: the manifest digest, the config blob, and
// for every layer the compressed digest and size and the uncompressed diff ID.
func checkImage(t testing.TB, img v1.Image) {
	t.Helper()
	raw, err := img.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	if d, _, _ := v1.SHA256(bytes.NewReader(raw)); d != digest(t, img) {
		t.Errorf("manifest digest %s, Digest() %s", d, digest(t, img))
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	rawCfg, err := img.RawConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if d, n, _ := v1.SHA256(bytes.NewReader(rawCfg)); d != m.Config.Digest || n != m.Config.Size {
		t.Errorf("config blob %s (%d bytes), manifest says %s (%d)", d, n, m.Config.Digest, m.Config.Size)
	}
	cf := configFile(t, img)
	ls := layers(t, img)
	if len(ls) != len(m.Layers) || len(ls) != len(cf.RootFS.DiffIDs) {
		t.Fatalf("%d layers, %d in the manifest, %d diff IDs", len(ls), len(m.Layers), len(cf.RootFS.DiffIDs))
	}
	for i, l := range ls {
		rc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		d, n, err := v1.SHA256(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if d != m.Layers[i].Digest || n != m.Layers[i].Size {
			t.Errorf("layer %d: blob %s (%d bytes), manifest says %s (%d)", i, d, n, m.Layers[i].Digest, m.Layers[i].Size)
		}
		rc, err = l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		diff, _, err := v1.SHA256(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if diff != cf.RootFS.DiffIDs[i] {
			t.Errorf("layer %d: uncompressed %s, config diff ID %s", i, diff, cf.RootFS.DiffIDs[i])
		}
	}
}

// checkIndex verifies that every descriptor matches its image.
func checkIndex(t testing.TB, idx v1.ImageIndex) {
	t.Helper()
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range im.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := img.RawManifest()
		if err != nil {
			t.Fatal(err)
		}
		if got, n, _ := v1.SHA256(bytes.NewReader(raw)); got != d.Digest || n != d.Size {
			t.Errorf("descriptor %s (%d bytes), manifest %s (%d)", d.Digest, d.Size, got, n)
		}
		checkImage(t, img)
	}
}
