package admission

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/ingot-build/ingot/internal/kubetest"
)

// Helpers for the tests that go through a real kube-apiserver.

// tlsServer serves h over HTTPS on loopback with a certificate for 127.0.0.1 from a fresh CA, and
// returns its URL and the CA.
func tlsServer(t testing.TB, h http.Handler) (string, []byte) {
	t.Helper()
	certs, err := NewCerts(CertOptions{Service: "webhook", Namespace: "test", Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certs.Cert, certs.Key)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL, certs.CACert
}

// manifestObjects splits rendered manifests into objects.
func manifestObjects(t testing.TB, data []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, doc := range bytes.Split(data, []byte("\n---\n")) {
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		var obj map[string]any
		if err := yaml.Unmarshal(doc, &obj); err != nil {
			t.Fatalf("%v\n%s", err, doc)
		}
		out = append(out, obj)
	}
	return out
}

// register renders the webhook configurations for a webhook at url and creates them, then waits until
// the API server calls the webhook (it learns of new configurations through a watch). probe reports
// whether a request reached the webhook since it was reset.
func register(t *testing.T, c *kubetest.Cluster, url string, ca []byte, mutate bool, probe *atomic.Int64) {
	t.Helper()
	ctx := context.Background()
	data, err := Manifests(ManifestOptions{URL: url, CABundle: ca, Mutate: mutate, SkipNamespaces: []string{"kube-system"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, obj := range manifestObjects(t, data) {
		if r, err := c.Create(ctx, obj, false); err != nil || !r.OK() {
			t.Fatalf("creating %s: %v %d %s", obj["kind"], err, r.Code, r.Body)
		}
	}
	if err := c.Namespace(ctx, "probe", nil); err != nil {
		t.Fatal(err)
	}
	before := probe.Load()
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		pod := podObject("probe", fmt.Sprintf("probe-%d", i), "registry.example.com/probe/app:v1")
		if _, err := c.Create(ctx, pod, true); err != nil {
			t.Fatal(err)
		}
		if probe.Load() > before {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatal("the API server did not call the webhook within 30s of its registration")
}

// podSpecOf is a pod spec whose container, init container and image volume run image.
func podSpecOf(image string) map[string]any {
	return map[string]any{
		"restartPolicy":  "Always",
		"initContainers": []any{map[string]any{"name": "init", "image": image}},
		"containers":     []any{map[string]any{"name": "app", "image": image}},
		"volumes":        []any{map[string]any{"name": "data", "image": map[string]any{"reference": image, "pullPolicy": "IfNotPresent"}}},
	}
}

func podObject(ns, name, image string) map[string]any {
	return map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{"name": name, "namespace": ns, "labels": map[string]any{"app": name}},
		"spec": podSpecOf(image)}
}

// workload is an object of kind whose pod template runs image.
func workload(kind, ns, name, image string) map[string]any {
	labels := map[string]any{"app": name}
	template := map[string]any{"metadata": map[string]any{"labels": labels}, "spec": podSpecOf(image)}
	meta := map[string]any{"name": name, "namespace": ns, "labels": labels}
	sel := map[string]any{"matchLabels": labels}
	never := func() map[string]any {
		s := podSpecOf(image)
		s["restartPolicy"] = "Never"
		return map[string]any{"metadata": map[string]any{"labels": labels}, "spec": s}
	}
	switch kind {
	case "Pod":
		return podObject(ns, name, image)
	case "ReplicationController":
		return map[string]any{"apiVersion": "v1", "kind": kind, "metadata": meta, "spec": map[string]any{"replicas": 1, "selector": labels, "template": template}}
	case "Deployment", "ReplicaSet", "DaemonSet":
		spec := map[string]any{"selector": sel, "template": template}
		if kind != "DaemonSet" {
			spec["replicas"] = 1
		}
		return map[string]any{"apiVersion": "apps/v1", "kind": kind, "metadata": meta, "spec": spec}
	case "StatefulSet":
		return map[string]any{"apiVersion": "apps/v1", "kind": kind, "metadata": meta, "spec": map[string]any{"replicas": 1, "serviceName": name, "selector": sel, "template": template}}
	case "Job":
		return map[string]any{"apiVersion": "batch/v1", "kind": kind, "metadata": meta, "spec": map[string]any{"template": never()}}
	case "CronJob":
		return map[string]any{"apiVersion": "batch/v1", "kind": kind, "metadata": meta, "spec": map[string]any{"schedule": "*/5 * * * *",
			"jobTemplate": map[string]any{"spec": map[string]any{"template": never()}}}}
	}
	panic("no workload of kind " + kind)
}

// workloadKinds are the kinds the webhook checks, in the order tests go through them.
var workloadKinds = []string{"Pod", "ReplicationController", "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob"}

// replaceImages sets every image of obj (containers, init containers, image volumes, in its pod spec
// wherever the kind keeps it) to image.
func replaceImages(obj map[string]any, image string) {
	spec := obj["spec"].(map[string]any)
	switch obj["kind"] {
	case "Pod":
	case "CronJob":
		spec = spec["jobTemplate"].(map[string]any)["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
	default:
		spec = spec["template"].(map[string]any)["spec"].(map[string]any)
	}
	for _, list := range []string{"containers", "initContainers"} {
		for _, c := range spec[list].([]any) {
			c.(map[string]any)["image"] = image
		}
	}
	if obj["kind"] == "Pod" {
		return // a Pod's volumes cannot change
	}
	for _, v := range spec["volumes"].([]any) {
		v.(map[string]any)["image"].(map[string]any)["reference"] = image
	}
}

// jsonOf re-decodes a response body.
func jsonOf(t testing.TB, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return m
}

// loopbackOnly fails a test when an address is not loopback.
func loopbackOnly(t testing.TB, url string) {
	t.Helper()
	host := strings.TrimPrefix(url, "https://")
	h, _, _ := net.SplitHostPort(host)
	if ip := net.ParseIP(h); ip == nil || !ip.IsLoopback() {
		t.Fatalf("%s is not on loopback", url)
	}
}
