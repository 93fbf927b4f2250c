package publish

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ingot-build/ingot/pkg/fault"
)

func randomImage(t *testing.T) v1.Image {
	t.Helper()
	img, err := random.Image(512, 2)
	if err != nil {
		t.Fatal(err)
	}
	return mutate.MediaType(img, types.OCIManifestSchema1)
}

func testIndex(t *testing.T) v1.ImageIndex {
	t.Helper()
	var adds []mutate.IndexAddendum
	for _, arch := range []string{"amd64", "arm64"} {
		adds = append(adds, mutate.IndexAddendum{Add: randomImage(t), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	return mutate.IndexMediaType(mutate.AppendManifests(empty.Index, adds...), types.OCIImageIndex)
}

func TestStoreWriteReadReplace(t *testing.T) {
	ctx := context.Background()
	s := Layouts{Root: t.TempDir()}
	img := randomImage(t)
	if _, err := s.Write(ctx, "static", "1.0", Artifact{Image: img}); err != nil {
		t.Fatal(err)
	}
	ii := testIndex(t)
	if _, err := s.Write(ctx, "static", "2.0", Artifact{Index: ii}); err != nil {
		t.Fatal(err)
	}
	// Rewriting a tag replaces its entry instead of adding a second one.
	img2 := randomImage(t)
	if _, err := s.Write(ctx, "static", "1.0", Artifact{Image: img2}); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(s.Dir("static"), "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var idx v1.IndexManifest
	if err := json.Unmarshal(raw, &idx); err != nil {
		t.Fatal(err)
	}
	if len(idx.Manifests) != 2 {
		t.Fatalf("index.json has %d entries, want 2: %s", len(idx.Manifests), raw)
	}
	want, _ := img2.Digest()
	if !s.Has("static", "1.0", want) {
		t.Error("Has(static:1.0) is false after writing it")
	}
	got, err := s.Read("static", "2.0")
	if err != nil {
		t.Fatal(err)
	}
	gd, _ := got.Index.Digest()
	wd, _ := ii.Digest()
	if gd != wd {
		t.Errorf("read back %s, wrote %s", gd, wd)
	}
	// ggcr validates every blob digest of the layout.
	p, err := layout.FromPath(s.Dir("static"))
	if err != nil {
		t.Fatal(err)
	}
	if err := validateLayout(p); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lookup("static", "3.0"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Lookup of a missing tag = %v, want ErrNotFound", err)
	}
}

func validateLayout(p layout.Path) error {
	ii, err := p.ImageIndex()
	if err != nil {
		return err
	}
	m, err := ii.IndexManifest()
	if err != nil {
		return err
	}
	for _, d := range m.Manifests {
		if d.MediaType.IsImage() {
			img, err := ii.Image(d.Digest)
			if err != nil {
				return err
			}
			ls, _ := img.Layers()
			for _, l := range ls {
				rc, err := l.Compressed()
				if err != nil {
					return err
				}
				if _, err := io.Copy(io.Discard, rc); err != nil {
					return err
				}
				if err := rc.Close(); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// badLayer claims a digest its content does not have, as a corrupted source would.
type badLayer struct{ v1.Layer }

func (b badLayer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(strings.NewReader(strings.Repeat("x", 10))), nil
}

type badImage struct{ v1.Image }

func (b badImage) Layers() ([]v1.Layer, error) {
	ls, err := b.Image.Layers()
	if err != nil {
		return nil, err
	}
	return []v1.Layer{ls[0], badLayer{ls[1]}}, nil
}

func TestStoreWriteFailureLeavesNothing(t *testing.T) {
	s := Layouts{Root: t.TempDir()}
	_, err := s.Write(context.Background(), "bad", "1", Artifact{Image: badImage{randomImage(t)}})
	if err == nil || !strings.Contains(err.Error(), "content has digest") {
		t.Fatalf("Write = %v, want a digest mismatch error", err)
	}
	if _, err := os.Stat(filepath.Join(s.Dir("bad"), "index.json")); !errors.Is(err, os.ErrNotExist) {
		t.Error("index.json exists after a failed write")
	}
	blobs, _ := os.ReadDir(filepath.Join(s.Dir("bad"), "blobs", "sha256"))
	for _, b := range blobs {
		if strings.HasPrefix(b.Name(), ".") {
			t.Errorf("temporary blob left behind: %s", b.Name())
		}
	}
}

func TestStoreRejectsBadName(t *testing.T) {
	s := Layouts{Root: t.TempDir()}
	if _, err := s.Write(context.Background(), "../escape", "1", Artifact{Image: randomImage(t)}); err == nil {
		t.Fatal("Write accepted a name with ..")
	}
}

func TestPushToRegistry(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		a    Artifact
	}{
		{"image", Artifact{Image: randomImage(t)}},
		{"index", Artifact{Index: testIndex(t)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref := u.Host + "/golden/" + tc.name + ":1.0"
			d, err := Push(ctx, ref, tc.a, PushOptions{})
			if err != nil {
				t.Fatal(err)
			}
			want, _ := tc.a.Digest()
			if d.DigestStr() != want.String() {
				t.Errorf("Push returned %s, want %s", d, want)
			}
			r, _ := name.ParseReference(ref)
			desc, err := remote.Head(r)
			if err != nil {
				t.Fatal(err)
			}
			if desc.Digest != want {
				t.Errorf("registry has %s, want %s", desc.Digest, want)
			}
			// Pushing again is a no-op that still succeeds.
			if _, err := Push(ctx, ref, tc.a, PushOptions{}); err != nil {
				t.Errorf("second push: %v", err)
			}
		})
	}
}

func TestPushRegistryDown(t *testing.T) {
	srv := httptest.NewServer(registry.New())
	u, _ := url.Parse(srv.URL)
	srv.Close()
	_, err := Push(context.Background(), u.Host+"/x:1", Artifact{Image: randomImage(t)}, PushOptions{})
	if err == nil || !strings.Contains(err.Error(), "pushing") {
		t.Fatalf("Push to a dead registry = %v", err)
	}
}

func TestWriteTarball(t *testing.T) {
	p := filepath.Join(t.TempDir(), "img.tar")
	img := randomImage(t)
	if err := WriteTarball(p, "golden/static:1.0", Artifact{Image: img}); err != nil {
		t.Fatal(err)
	}
	tag, _ := name.NewTag("golden/static:1.0")
	got, err := tarball.ImageFromPath(p, &tag)
	if err != nil {
		t.Fatal(err)
	}
	gd, _ := got.ConfigName()
	wd, _ := img.ConfigName()
	if gd != wd {
		t.Errorf("tarball config %s, want %s", gd, wd)
	}
	if err := WriteTarball(p, "bad tag!", Artifact{Image: img}); err == nil {
		t.Error("accepted an invalid tag")
	}
}

// TestPushReference: a push without a tag goes to the tag it is given (the spec's version), one with a
// tag keeps it, and one by digest is refused as bad input.
func TestPushReference(t *testing.T) {
	digest := "@sha256:" + strings.Repeat("a", 64)
	for _, tc := range []struct {
		ref, tag, want string
		err            error
	}{
		{"localhost:5000/app", "1.0", "localhost:5000/app:1.0", nil},
		{"localhost:5000/app", "", "localhost:5000/app:latest", nil},
		{"localhost:5000/app:edge", "1.0", "localhost:5000/app:edge", nil},
		{"registry.example/golden/app", "2.3.4", "registry.example/golden/app:2.3.4", nil},
		{"localhost:5000/app" + digest, "1.0", "", ErrPushDigest},
		{"localhost:5000/app:1.0" + digest, "1.0", "", ErrPushDigest},
		{"localhost:5000/App", "1.0", "", fault.Invalid},
	} {
		got, err := PushReference(tc.ref, tc.tag, false)
		switch {
		case tc.err != nil && !errors.Is(err, tc.err):
			t.Errorf("PushReference(%q) = %v, %v; want %v", tc.ref, got, err, tc.err)
		case tc.err == nil && (err != nil || got.Name() != tc.want):
			t.Errorf("PushReference(%q, %q) = %v, %v; want %s", tc.ref, tc.tag, got, err, tc.want)
		}
	}
}

// TestLayoutTag: a tag added to a stored image keeps the other tags (every version stays in
// index.json), moving a tag replaces only its own entry, and an image is found by digest under any
// tag.
func TestLayoutTag(t *testing.T) {
	ctx := context.Background()
	s := Layouts{Root: t.TempDir()}
	a, b := Artifact{Image: randomImage(t)}, Artifact{Index: testIndex(t)}
	for _, w := range []struct {
		tag string
		a   Artifact
	}{{"1.0-r1", a}, {"1.0-r2", b}} {
		if _, err := s.Write(ctx, "app", w.tag, w.a); err != nil {
			t.Fatal(err)
		}
	}
	da, _ := a.Digest()
	db, _ := b.Digest()
	for _, move := range []v1.Hash{da, db} { // latest follows r1, then r2
		if err := s.Tag("app", move, "latest"); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]v1.Hash{"1.0-r1": da, "1.0-r2": db, "latest": db}
	idx, err := readIndex(s.Dir("app"))
	if err != nil {
		t.Fatal(err)
	}
	if len(idx.Manifests) != len(want) {
		t.Errorf("index.json has %d entries, want %d", len(idx.Manifests), len(want))
	}
	for tag, d := range want {
		if got, err := s.Lookup("app", tag); err != nil || got.Digest != d {
			t.Errorf("%s: %v %v, want %s", tag, got.Digest, err, d)
		}
	}
	got, err := s.ReadDigest("app", da)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := got.Digest(); d != da {
		t.Errorf("ReadDigest gave %s, want %s", d, da)
	}
	if _, err := s.ReadDigest("app", v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("1", 64)}); !errors.Is(err, ErrNotFound) {
		t.Errorf("ReadDigest of an absent digest: %v, want ErrNotFound", err)
	}
	absent := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("0", 64)}
	if err := s.Tag("app", absent, "latest"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Tag of an absent digest: %v, want ErrNotFound", err)
	}
	if err := s.Tag("nothing", da, "latest"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Tag in an absent layout: %v, want ErrNotFound", err)
	}
}

// TestTagInRegistry: Tag points more tags at a pushed artifact.
func TestTagInRegistry(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	ctx := context.Background()
	a := Artifact{Index: testIndex(t)}
	d, err := Push(ctx, u.Host+"/golden/app:1.0-r1", a, PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := Tag(ctx, d.Context(), a, []string{"1.0", "latest"}, PushOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, tag := range []string{"1.0-r1", "1.0", "latest"} {
		desc, err := remote.Head(d.Context().Tag(tag))
		if err != nil || desc.Digest.String() != d.DigestStr() {
			t.Errorf("%s: %v %v, want %s", tag, desc, err, d.DigestStr())
		}
	}
}
