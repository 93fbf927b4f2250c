package regtest

import (
	"context"
	"net"
	"net/http"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// push writes a small random image to host/repo:latest and returns its digest.
func push(t *testing.T, host, repo string, opts ...remote.Option) (v1.Hash, error) {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(host + "/" + repo + ":latest")
	if err != nil {
		t.Fatal(err)
	}
	return d, remote.Write(ref, img, append(opts, remote.WithContext(t.Context()))...)
}

// status is the HTTP status of METHOD http://host/path.
func status(t *testing.T, method, host, path string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(context.WithoutCancel(t.Context()), method, "http://"+host+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json,application/vnd.oci.image.index.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

func TestRegistries(t *testing.T) {
	for _, tc := range []struct {
		name          string
		start         func(t *testing.T) string
		wantReferrers int // status of GET /v2/NAME/referrers/DIGEST
	}{
		{"ggcr with referrers", func(t *testing.T) string { return Registry(t) }, http.StatusOK},
		{"ggcr without referrers", func(t *testing.T) string { return Registry(t, WithReferrers(false)) }, http.StatusNotFound},
		{"docker-registry", func(t *testing.T) string { return DockerRegistry(t) }, http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			host := tc.start(t)
			if h, _, err := net.SplitHostPort(host); err != nil || !IsLoopback(h) {
				t.Fatalf("registry on %q, want loopback host:port", host)
			}
			d, err := push(t, host, "test/img")
			if err != nil {
				t.Fatalf("pushing to %s: %v", tc.name, err)
			}
			ref, err := name.ParseReference(host + "/test/img:latest")
			if err != nil {
				t.Fatal(err)
			}
			desc, err := remote.Head(ref, remote.WithContext(t.Context()))
			if err != nil {
				t.Fatalf("reading back: %v", err)
			}
			if desc.Digest != d {
				t.Errorf("latest is %s, pushed %s", desc.Digest, d)
			}
			if got := status(t, http.MethodGet, host, "/v2/test/img/referrers/"+d.String()); got != tc.wantReferrers {
				t.Errorf("GET referrers: %d, want %d", got, tc.wantReferrers)
			}
			// Deletes are enabled, so a test can remove what a failed push left and see a retry restore it.
			if got := status(t, http.MethodDelete, host, "/v2/test/img/manifests/"+d.String()); got != http.StatusAccepted {
				t.Errorf("DELETE manifest: %d, want %d", got, http.StatusAccepted)
			}
			if got := status(t, http.MethodGet, host, "/v2/test/img/manifests/"+d.String()); got != http.StatusNotFound {
				t.Errorf("GET manifest after DELETE: %d, want %d", got, http.StatusNotFound)
			}
		})
	}
}

func TestFrontProxiesDockerRegistry(t *testing.T) {
	var f Flaky
	host := Front(t, DockerRegistry(t), f.Wrap)
	if _, err := push(t, host, "front/img"); err != nil {
		t.Fatalf("pushing through the proxy: %v", err)
	}
	if n := f.Count(http.MethodPut, KindManifest); n != 1 {
		t.Errorf("%d manifest PUTs went through the proxy, want 1", n)
	}
}
