package imageref

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ingot-build/ingot/pkg/fault"
	"github.com/ingot-build/ingot/pkg/publish"
)

func img(t *testing.T) v1.Image {
	t.Helper()
	i, err := random.Image(100, 1)
	if err != nil {
		t.Fatal(err)
	}
	return mutate.MediaType(i, types.OCIManifestSchema1)
}

func digest(t *testing.T, i v1.Image) v1.Hash {
	t.Helper()
	d, err := i.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestOpen(t *testing.T) {
	ctx := context.Background()
	store := publish.Layouts{Root: t.TempDir()}
	single := img(t)
	amd, arm := img(t), img(t)
	idx := mutate.IndexMediaType(mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}},
	), types.OCIImageIndex)
	if _, err := store.Write(ctx, "app", "1.0", publish.Artifact{Image: single}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Write(ctx, "app", "multi", publish.Artifact{Index: idx}); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "app.tar")
	if err := publish.WriteTarball(archive, "app:1.0", publish.Artifact{Image: single}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	regRef := u.Host + "/golden/app:1.0"
	r, _ := name.ParseReference(regRef)
	if err := remote.Write(r, single); err != nil {
		t.Fatal(err)
	}

	arm64 := v1.Platform{OS: "linux", Architecture: "arm64"}
	for _, tc := range []struct {
		ref      string
		platform v1.Platform
		want     v1.Hash
		kind     string
	}{
		{"app:1.0", v1.Platform{}, digest(t, single), "store"},
		{"app:multi", arm64, digest(t, arm), "store"},
		{"oci:" + store.Dir("app") + ":1.0", v1.Platform{}, digest(t, single), "oci"},
		{"oci:" + store.Dir("app") + ":multi", v1.Platform{OS: "linux", Architecture: "amd64"}, digest(t, amd), "oci"},
		{"docker-archive:" + archive, v1.Platform{}, mustConfigDigest(t, single), "docker-archive"},
		{archive, v1.Platform{}, mustConfigDigest(t, single), "docker-archive"},
		{regRef, v1.Platform{}, digest(t, single), "registry"},
	} {
		t.Run(tc.ref, func(t *testing.T) {
			got, err := Open(ctx, tc.ref, Options{Layouts: store, Platform: tc.platform})
			if err != nil {
				t.Fatal(err)
			}
			if got.Kind != tc.kind {
				t.Errorf("kind = %s, want %s", got.Kind, tc.kind)
			}
			d := digest(t, got.Image)
			if tc.kind == "docker-archive" {
				d = mustConfigDigest(t, got.Image) // a docker archive rewrites the manifest
			}
			if d != tc.want {
				t.Errorf("opened %s, want %s", d, tc.want)
			}
		})
	}

	for _, tc := range []struct{ ref string }{
		{"app:2.0"},
		{"oci:" + store.Dir("app") + ":nope"},
	} {
		if _, err := Open(ctx, tc.ref, Options{Layouts: store}); !errors.Is(err, ErrNotFound) {
			t.Errorf("Open(%s) = %v, want ErrNotFound", tc.ref, err)
		}
	}
	if _, err := Open(ctx, "app:multi", Options{Layouts: store, Platform: v1.Platform{OS: "linux", Architecture: "s390x"}}); !errors.Is(err, ErrNotFound) {
		t.Errorf("a missing platform = %v, want ErrNotFound", err)
	}
}

func mustConfigDigest(t *testing.T, i v1.Image) v1.Hash {
	t.Helper()
	d, err := i.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestOpenAll: an index yields every platform image in index order, each with its platform; a
// platform selects one; one the index lacks is bad input naming what it has.
func TestOpenAll(t *testing.T) {
	ctx := context.Background()
	store := publish.Layouts{Root: t.TempDir()}
	single := img(t)
	cf, err := single.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf.OS, cf.Architecture = "linux", "amd64"
	single, err = mutate.ConfigFile(single, cf)
	if err != nil {
		t.Fatal(err)
	}
	amd, arm := img(t), img(t)
	idx := mutate.IndexMediaType(mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}},
		mutate.IndexAddendum{Add: img(t), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "unknown", Architecture: "unknown"}}},
	), types.OCIImageIndex)
	if _, err := store.Write(ctx, "app", "multi", publish.Artifact{Index: idx}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Write(ctx, "app", "1.0", publish.Artifact{Image: single}); err != nil {
		t.Fatal(err)
	}

	s, err := OpenAll(ctx, "app:multi", Options{Layouts: store})
	if err != nil {
		t.Fatal(err)
	}
	if s.Index == nil || len(s.Images) != 2 {
		t.Fatalf("OpenAll of a two-platform index: index %v, %d images", s.Index != nil, len(s.Images))
	}
	for i, want := range []struct {
		d v1.Hash
		p string
	}{{digest(t, amd), "linux/amd64"}, {digest(t, arm), "linux/arm64/v8"}} {
		got := s.Images[i]
		if digest(t, got.Image) != want.d || got.Platform == nil || got.Platform.String() != want.p || got.Index == nil || got.Ref != "app:multi" {
			t.Errorf("image %d: %s %v, want %s %s", i, digest(t, got.Image), got.Platform, want.d, want.p)
		}
	}
	if d, err := s.Digest(); err != nil || d != mustIndexDigest(t, idx) {
		t.Errorf("set digest %s, %v, want the index's", d, err)
	}

	s, err = OpenAll(ctx, "app:multi", Options{Layouts: store, Platform: v1.Platform{OS: "linux", Architecture: "arm64"}})
	if err != nil || len(s.Images) != 1 || digest(t, s.Images[0].Image) != digest(t, arm) {
		t.Fatalf("--platform linux/arm64: %v", err)
	}

	_, err = OpenAll(ctx, "app:multi", Options{Layouts: store, Platform: v1.Platform{OS: "linux", Architecture: "s390x"}})
	if !errors.Is(err, ErrPlatform) || fault.Of(err) != fault.Invalid || !strings.Contains(err.Error(), "linux/amd64, linux/arm64/v8") {
		t.Errorf("a platform the index lacks: %v, want ErrPlatform listing linux/amd64, linux/arm64/v8", err)
	}

	if s, err := OpenAll(ctx, "app:1.0", Options{Layouts: store}); err != nil || s.Index != nil || len(s.Images) != 1 || s.Images[0].Platform != nil {
		t.Errorf("a single image: %+v, %v", s, err)
	}
	if _, err := OpenAll(ctx, "app:1.0", Options{Layouts: store, Platform: v1.Platform{OS: "linux", Architecture: "amd64"}}); err != nil {
		t.Errorf("a single linux/amd64 image asked for linux/amd64: %v", err)
	}
	if _, err := OpenAll(ctx, "app:1.0", Options{Layouts: store, Platform: v1.Platform{OS: "linux", Architecture: "arm64"}}); !errors.Is(err, ErrPlatform) {
		t.Errorf("a single linux/amd64 image asked for linux/arm64: %v, want ErrPlatform", err)
	}
}

func TestLocal(t *testing.T) {
	store := publish.Layouts{Root: t.TempDir()}
	if _, err := store.Write(context.Background(), "static", "bookworm", publish.Artifact{Image: img(t)}); err != nil {
		t.Fatal(err)
	}
	for ref, local := range map[string]bool{
		"static:bookworm":          true,
		"static":                   true,
		"./static":                 true,
		"/srv/app":                 true,
		"app.tar":                  true,
		"oci:/srv/app:1":           true,
		"docker-archive:x":         true,
		"registry:static:bookworm": false,
		"other:bookworm":           false,
		"registry.example/app:1":   false,
		"static@sha256:" + strings.Repeat("a", 64): false,
	} {
		if what, ok := Local(ref, store); ok != local || ok && what == "" {
			t.Errorf("Local(%q) = %q, %v, want %v", ref, what, ok, local)
		}
	}
}

func mustIndexDigest(t *testing.T, ii v1.ImageIndex) v1.Hash {
	t.Helper()
	d, err := ii.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}
