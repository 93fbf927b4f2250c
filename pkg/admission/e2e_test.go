package admission

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ingot-build/ingot/internal/kubetest"
	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/catalog/sqlite"
)

// TestThroughKubeAPIServer: a real kube-apiserver v1.36 calls the webhook (registered with a url:
// client config, as ingot admission manifests --url renders it): it refuses what the webhook denies
// and admits the gold image, for Pods, Deployments, the ephemeral containers subresource and image
// volumes, whatever labels a namespace's owner sets, pins tags to digests through the mutating
// webhook, and refuses a version within seconds of its revocation. The manifests ingot admission
// manifests prints are accepted by the API server (server-side dry run).
func TestThroughKubeAPIServer(t *testing.T) {
	c := kubetest.StartT(t)
	w := newWorld(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := w.service(t, Options{PollInterval: 100 * time.Millisecond})
	go s.Run(ctx)
	var calls atomic.Int64
	h := (&Server{Webhook: s.Webhook, Mutate: true}).Handler()
	hookURL, ca := tlsServer(t, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		h.ServeHTTP(rw, r)
	}))
	loopbackOnly(t, hookURL)

	// The manifests for a cluster deployment, applied with a server-side dry run.
	t.Run("manifests", func(t *testing.T) {
		data, _ := manifestsFor(t, w, true)
		if err := c.Namespace(ctx, "ingot-system", nil); err != nil {
			t.Fatal(err)
		}
		for _, obj := range manifestObjects(t, data) {
			if obj["kind"] == "Namespace" {
				continue // created above, for real: the dry run of what it holds needs it
			}
			r, err := c.Create(ctx, obj, true)
			if err != nil || !r.OK() {
				t.Errorf("dry run of %s: %v %d %s", obj["kind"], err, r.Code, r.Body)
			}
		}
	})

	register(t, c, hookURL, ca, true, &calls)
	if err := c.Namespace(ctx, "prod", nil); err != nil {
		t.Fatal(err)
	}
	gold, unsigned := w.refs["signed"], w.refs["unsigned"]
	create := func(obj map[string]any, dryRun bool) kubetest.Response {
		t.Helper()
		r, err := c.Create(ctx, obj, dryRun)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	denied := func(r kubetest.Response, says ...string) {
		t.Helper()
		st := r.Status()
		if r.Code != http.StatusForbidden || !strings.Contains(st.Message, `admission webhook "`+ValidateWebhookName+`" denied the request`) {
			t.Errorf("want the webhook's denial, got %d %s", r.Code, r.Body)
			return
		}
		for _, s := range says {
			if !strings.Contains(st.Message, s) {
				t.Errorf("the denial does not say %q: %s", s, st.Message)
			}
		}
	}

	t.Run("pods", func(t *testing.T) {
		r := create(podObject("prod", "gold", gold), false)
		if r.Code != http.StatusCreated {
			t.Fatalf("the gold pod: %d %s", r.Code, r.Body)
		}
		// The mutating webhook pinned every image of the stored pod to the digest the tag names.
		pinned := gold + "@" + w.digests["signed"].DigestStr()
		spec := jsonOf(t, r.Body)["spec"].(map[string]any)
		for _, got := range []any{spec["containers"].([]any)[0].(map[string]any)["image"], spec["initContainers"].([]any)[0].(map[string]any)["image"],
			spec["volumes"].([]any)[0].(map[string]any)["image"].(map[string]any)["reference"]} {
			if got != pinned {
				t.Errorf("stored image %v, want %s", got, pinned)
			}
		}
		denied(create(podObject("prod", "unsigned", unsigned), false), unsigned, "signature", "spec.containers[0].image")
		denied(create(podObject("prod", "stale", w.refs["stale"]), true), "scan", "last scanned")
		denied(create(podObject("prod", "wrong", w.refs["wrongkey"]), true), "signed by a different key")
		denied(create(podObject("prod", "elsewhere", w.refs["registry"]), true), "not an allowed registry")
		// An image volume: the containers are gold, the volume is not.
		vol := podObject("prod", "volume", gold)
		vol["spec"].(map[string]any)["volumes"].([]any)[0].(map[string]any)["image"].(map[string]any)["reference"] = unsigned
		denied(create(vol, true), "spec.volumes[0].image.reference", unsigned)
	})

	t.Run("ephemeral containers", func(t *testing.T) {
		get, err := c.Do(ctx, http.MethodGet, "/api/v1/namespaces/prod/pods/gold", nil, nil)
		if err != nil || !get.OK() {
			t.Fatalf("%v %s", err, get.Body)
		}
		pod := jsonOf(t, get.Body)
		pod["spec"].(map[string]any)["ephemeralContainers"] = []any{map[string]any{"name": "debug", "image": unsigned}}
		r, err := c.Do(ctx, http.MethodPut, "/api/v1/namespaces/prod/pods/gold/ephemeralcontainers", nil, pod)
		if err != nil {
			t.Fatal(err)
		}
		denied(r, "spec.ephemeralContainers[0].image", unsigned)
		pod["spec"].(map[string]any)["ephemeralContainers"] = []any{map[string]any{"name": "debug", "image": gold}}
		if r, err := c.Do(ctx, http.MethodPut, "/api/v1/namespaces/prod/pods/gold/ephemeralcontainers", nil, pod); err != nil || !r.OK() {
			t.Errorf("a gold ephemeral container: %v %d %s", err, r.Code, r.Body)
		}
	})

	t.Run("deployments", func(t *testing.T) {
		if r := create(workload("Deployment", "prod", "gold", gold), false); r.Code != http.StatusCreated {
			t.Errorf("the gold deployment: %d %s", r.Code, r.Body)
		}
		denied(create(workload("Deployment", "prod", "unsigned", unsigned), false), "Deployment", "spec.template.spec.containers[0].image", unsigned)
		for _, kind := range []string{"StatefulSet", "DaemonSet", "Job", "CronJob", "ReplicaSet", "ReplicationController"} {
			denied(create(workload(kind, "prod", "u-"+strings.ToLower(kind), unsigned), true), kind)
		}
	})

	t.Run("a namespace's labels exempt nothing", func(t *testing.T) {
		labels := map[string]string{"kubernetes.io/metadata.name": "ingot-system", "ingot.build/exempt": "true"}
		if err := c.Namespace(ctx, "evil", labels); err != nil {
			t.Fatal(err)
		}
		r, err := c.Do(ctx, http.MethodGet, "/api/v1/namespaces/evil", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := jsonOf(t, r.Body)["metadata"].(map[string]any)["labels"].(map[string]any)["kubernetes.io/metadata.name"]
		if got != "evil" {
			t.Errorf("the API server kept the forged label: %v", got)
		}
		pod := podObject("evil", "unsigned", unsigned)
		pod["metadata"].(map[string]any)["labels"] = map[string]any{"ingot.build/exempt": "true"}
		denied(create(pod, true), unsigned)
	})

	t.Run("revocation", func(t *testing.T) {
		if r := create(podObject("prod", "gold-2", gold), true); !r.OK() {
			t.Fatalf("before: %d %s", r.Code, r.Body)
		}
		other, err := sqlite.Open(ctx, filepath.Join(w.dir, "catalog.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = other.Close() }()
		at := time.Now()
		if _, err := other.SetStatus(ctx, catalog.Ref{Image: "app", Version: w.digests["signed"].DigestStr()},
			catalog.StatusChange{Status: catalog.StatusRevoked, Reason: "CVE-2026-7777", Actor: "security"}); err != nil {
			t.Fatal(err)
		}
		for {
			r := create(podObject("prod", "gold-2", gold), true)
			if r.Code == http.StatusForbidden {
				denied(r, "revoked", "CVE-2026-7777")
				t.Logf("the API server refuses the revoked version %s after the revocation", time.Since(at).Round(time.Millisecond))
				break
			}
			if time.Since(at) > 5*time.Second {
				t.Fatalf("still admitted 5s after the revocation: %d %s", r.Code, r.Body)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}
