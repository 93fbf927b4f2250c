package imageref

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

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
