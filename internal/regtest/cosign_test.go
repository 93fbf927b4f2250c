package regtest

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// The offline flags are right: each cosign signs an image with a key it generated, pushing to a
// loopback registry with no transparency log, and verifies it; v3 also verifies v2's legacy signature.
// On docker-registry (no referrers API) v3's bundle must land under the sha256-<hex> fallback tag.
func TestCosignOfflineFlags(t *testing.T) {
	c2, c3 := Cosign(t, 2), Cosign(t, 3)
	for _, tc := range []struct {
		name     string
		registry func(t *testing.T) string
		fallback bool
	}{
		{"docker-registry", func(t *testing.T) string { return DockerRegistry(t) }, true},
		{"ggcr with referrers", func(t *testing.T) string { return Registry(t) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			host := tc.registry(t)
			key := filepath.Join(t.TempDir(), "k")
			pw := []string{"COSIGN_PASSWORD=secret"}
			cosign := func(bin string, args ...string) string {
				t.Helper()
				stdout, stderr, err := RunCosign(t, bin, pw, args...)
				if err != nil {
					t.Fatalf("cosign %s: %v\n%s", strings.Join(args, " "), err, stderr)
				}
				return stdout
			}
			cosign(c2, "generate-key-pair", "--output-key-prefix", key)

			for _, signer := range []struct {
				major int
				bin   string
			}{{2, c2}, {3, c3}} {
				repo := host + "/signed-by-v" + string(rune('0'+signer.major))
				d, err := push(t, host, strings.TrimPrefix(repo, host+"/"))
				if err != nil {
					t.Fatal(err)
				}
				ref := repo + "@" + d.String()
				cosign(signer.bin, append(append([]string{"sign", "--key", key + ".key"}, SignFlags(t, signer.bin, signer.major)...), ref)...)

				verifiers := []struct {
					major int
					bin   string
				}{{3, c3}}
				if signer.major == 2 {
					verifiers = append(verifiers, struct {
						major int
						bin   string
					}{2, c2})
				}
				for _, v := range verifiers {
					out := cosign(v.bin, append(append([]string{"verify", "--key", key + ".pub"}, VerifyFlags(t, v.bin, v.major)...), ref)...)
					if !strings.Contains(out, d.String()) {
						t.Errorf("cosign v%d verify of a v%d signature printed no claim for %s: %s", v.major, signer.major, d, out)
					}
				}
				if signer.major == 3 {
					checkBundlePlace(t, host, repo, d.String(), tc.fallback)
				}
			}
			// The wrong key fails: the flags do not switch verification off.
			other := filepath.Join(t.TempDir(), "other")
			cosign(c2, "generate-key-pair", "--output-key-prefix", other)
			d, err := push(t, host, "signed-by-v2")
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range []struct {
				major int
				bin   string
			}{{2, c2}, {3, c3}} {
				args := append(append([]string{"verify", "--key", other + ".pub"}, VerifyFlags(t, v.bin, v.major)...), host+"/signed-by-v2@"+d.String())
				if _, _, err := RunCosign(t, v.bin, nil, args...); err == nil {
					t.Errorf("cosign v%d verify accepted another key's signature", v.major)
				}
			}
		})
	}
}

// checkBundlePlace asserts where cosign v3 stored its bundle: under the sha256-<hex> fallback tag
// when the registry has no referrers API, else as a referrer.
func checkBundlePlace(t *testing.T, host, repo, digest string, fallback bool) {
	t.Helper()
	tag, err := name.ParseReference(repo + ":" + strings.Replace(digest, ":", "-", 1))
	if err != nil {
		t.Fatal(err)
	}
	_, terr := remote.Get(tag, remote.WithContext(t.Context()))
	if fallback != (terr == nil) {
		t.Errorf("fallback tag %s present = %v, want %v", tag, terr == nil, fallback)
	}
	if fallback {
		return
	}
	resp, err := http.Get("http://" + host + "/v2/" + strings.TrimPrefix(repo, host+"/") + "/referrers/" + digest)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var idx struct {
		Manifests []struct {
			ArtifactType string `json:"artifactType"`
		} `json:"manifests"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&idx); err != nil {
		t.Fatal(err)
	}
	if len(idx.Manifests) != 1 || !strings.HasPrefix(idx.Manifests[0].ArtifactType, "application/vnd.dev.sigstore.bundle") {
		t.Errorf("referrers of %s: %+v, want one sigstore bundle", digest, idx.Manifests)
	}
}
