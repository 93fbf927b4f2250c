package regtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// putArtifact pushes an OCI artifact manifest with the given artifactType whose subject is subject.
func putArtifact(t *testing.T, host, repo, artifactType string, subject v1.Hash) {
	t.Helper()
	cfg := static.NewLayer([]byte("{}"), "application/vnd.oci.empty.v1+json")
	r, err := name.NewRepository(host + "/" + repo)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteLayer(r, cfg, remote.WithContext(t.Context())); err != nil {
		t.Fatal(err)
	}
	cd, _ := cfg.Digest()
	body, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     types.OCIManifestSchema1,
		"artifactType":  artifactType,
		"config":        map[string]any{"mediaType": "application/vnd.oci.empty.v1+json", "digest": cd.String(), "size": 2},
		"layers":        []any{},
		"subject":       map[string]any{"mediaType": types.DockerManifestSchema2, "digest": subject.String(), "size": 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	req, err := http.NewRequestWithContext(context.WithoutCancel(t.Context()), http.MethodPut,
		fmt.Sprintf("http://%s/v2/%s/manifests/sha256:%s", host, repo, hex.EncodeToString(sum[:])), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", string(types.OCIManifestSchema1))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT artifact manifest: %d", resp.StatusCode)
	}
}

func TestRegistryReferrersFollowTheSpec(t *testing.T) {
	host := Registry(t)
	d, err := push(t, host, "app")
	if err != nil {
		t.Fatal(err)
	}
	putArtifact(t, host, "app", "application/vnd.dev.sigstore.bundle.v0.3+json", d)
	putArtifact(t, host, "app", "application/spdx+json", d)

	for _, tc := range []struct {
		query    string
		want     []string
		filtered bool
	}{
		{"", []string{"application/spdx+json", "application/vnd.dev.sigstore.bundle.v0.3+json"}, false},
		{"?artifactType=application/spdx%2Bjson", []string{"application/spdx+json"}, true},
		{"?artifactType=application/x-none", nil, true},
	} {
		resp, err := http.Get("http://" + host + "/v2/app/referrers/" + d.String() + tc.query)
		if err != nil {
			t.Fatal(err)
		}
		var idx v1.IndexManifest
		err = json.NewDecoder(resp.Body).Decode(&idx)
		_ = resp.Body.Close()
		if err != nil {
			t.Fatalf("referrers%s: %v", tc.query, err)
		}
		got := map[string]bool{}
		for _, m := range idx.Manifests {
			got[m.ArtifactType] = true
		}
		if len(got) != len(tc.want) || len(idx.Manifests) != len(tc.want) {
			t.Errorf("referrers%s: %+v, want artifact types %v", tc.query, idx.Manifests, tc.want)
		}
		for _, w := range tc.want {
			if !got[w] {
				t.Errorf("referrers%s: no %s in %+v", tc.query, w, idx.Manifests)
			}
		}
		if f := resp.Header.Get("OCI-Filters-Applied"); (f == "artifactType") != tc.filtered {
			t.Errorf("referrers%s: OCI-Filters-Applied %q", tc.query, f)
		}
	}
}
