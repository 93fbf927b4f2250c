package admission

import (
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ingot-build/ingot/internal/regtest"
	"github.com/ingot-build/ingot/pkg/sign"
)

var failure503 = regtest.Failure{Status: http.StatusServiceUnavailable}

func writeFile(path, body string) error { return os.WriteFile(path, []byte(body), 0o644) }

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// remoteVia sends every registry request to the loopback registry at host.
func remoteVia(host string) sign.RemoteOptions {
	return sign.RemoteOptions{Transport: redirect{host: host}}
}

// applyPatch applies "replace" operations to a decoded JSON document, as the API server applies a
// webhook's JSON patch.
func applyPatch(t testing.TB, root map[string]any, ops []patchOp) {
	t.Helper()
	for _, op := range ops {
		if op.Op != "replace" {
			t.Fatalf("unexpected op %+v", op)
		}
		parts := strings.Split(strings.TrimPrefix(op.Path, "/"), "/")
		var cur any = root
		for i, p := range parts {
			last := i == len(parts)-1
			switch c := cur.(type) {
			case map[string]any:
				if _, ok := c[p]; !ok {
					t.Fatalf("%s: no %q", op.Path, p)
				}
				if last {
					c[p] = op.Value
				} else {
					cur = c[p]
				}
			case []any:
				n, err := strconv.Atoi(p)
				if err != nil || n >= len(c) {
					t.Fatalf("%s: bad index %q", op.Path, p)
				}
				if last {
					c[n] = op.Value
				} else {
					cur = c[n]
				}
			default:
				t.Fatalf("%s: cannot descend into %T", op.Path, cur)
			}
		}
	}
}

func remoteBackoff(d time.Duration, steps int) remote.Backoff {
	return remote.Backoff{Duration: d, Factor: 2, Steps: steps}
}
