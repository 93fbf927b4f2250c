package kubetest

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// TestCluster: the API server starts, answers with the token, and admits a Pod with the namespace's
// default service account.
func TestCluster(t *testing.T) {
	c := StartT(t)
	ctx := context.Background()
	if err := c.Namespace(ctx, "kt", nil); err != nil {
		t.Fatal(err)
	}
	pod := map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{"name": "p", "namespace": "kt"},
		"spec": map[string]any{"containers": []any{map[string]any{"name": "c", "image": "registry.example.com/app:v1"}}}}
	r, err := c.Create(ctx, pod, true)
	if err != nil || !r.OK() {
		t.Fatalf("dry-run pod: %v %d %s", err, r.Code, r.Body)
	}
	r, err = c.Do(ctx, http.MethodGet, "/version", nil, nil)
	if err != nil || !strings.Contains(string(r.Body), "v1.36") {
		t.Errorf("version: %v %s", err, r.Body)
	}
}
