package admission

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ingot-build/ingot/internal/kubetest"
)

var capture = flag.Bool("capture", false, "record testdata/reviews from a real kube-apiserver")

// Placeholders in the recorded reviews: tests put the image under test where fixtureImage is; the
// image an UPDATE replaces is previousImage.
const (
	fixtureImage  = "registry.example.com/fixture/app:v1"
	previousImage = "registry.example.com/fixture/previous:v0"
	fixtureNS     = "fixtures"
)

// TestCaptureReviews records, with -capture, the AdmissionReviews kube-apiserver sends for every kind
// the webhook checks: CREATE of an object whose containers, init containers and image volumes run
// fixtureImage, and UPDATE of one whose images change from previousImage to fixtureImage (a Job's
// template cannot change: its UPDATE changes a label, and both objects run fixtureImage), and the
// UPDATE of the ephemeralcontainers subresource adding a container that runs fixtureImage.
func TestCaptureReviews(t *testing.T) {
	if !*capture {
		t.Skip("run with -capture to record testdata/reviews from kube-apiserver")
	}
	c := kubetest.StartT(t)
	ctx := context.Background()
	var mu sync.Mutex
	var seen atomic.Int64
	recorded := map[string][]byte{}
	url, ca := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		seen.Add(1)
		var rev Review
		if err := json.Unmarshal(body, &rev); err != nil || rev.Request == nil {
			http.Error(w, "bad review", http.StatusBadRequest)
			return
		}
		op := strings.ToLower(rev.Request.Operation)
		key := rev.Request.Kind.Kind + "-" + op
		if rev.Request.SubResource != "" {
			key = rev.Request.Kind.Kind + "-" + rev.Request.SubResource
		}
		// Only the review each object is made for: the object an UPDATE changes is created first.
		want := strings.HasSuffix(rev.Request.Name, "-"+op) || rev.Request.SubResource == "ephemeralcontainers"
		if rev.Request.Namespace == fixtureNS && want {
			var pretty bytes.Buffer
			_ = json.Indent(&pretty, body, "", "  ")
			mu.Lock()
			recorded[key] = append(pretty.Bytes(), '\n')
			mu.Unlock()
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(reply(&Response{UID: rev.Request.UID, Allowed: true}))
	}))
	register(t, c, url, ca, false, &seen)
	if err := c.Namespace(ctx, fixtureNS, nil); err != nil {
		t.Fatal(err)
	}
	must := func(r kubetest.Response, err error) map[string]any {
		t.Helper()
		if err != nil || !r.OK() {
			t.Fatalf("%v %d %s", err, r.Code, r.Body)
		}
		return jsonOf(t, r.Body)
	}
	for _, kind := range workloadKinds {
		lower := strings.ToLower(kind)
		must(c.Create(ctx, workload(kind, fixtureNS, lower+"-create", fixtureImage), false))
		first := fixtureImage
		if kind != "Job" {
			first = previousImage
		}
		obj := must(c.Create(ctx, workload(kind, fixtureNS, lower+"-update", first), false))
		if kind == "Job" {
			obj["metadata"].(map[string]any)["labels"].(map[string]any)["changed"] = "yes"
		} else {
			replaceImages(obj, fixtureImage)
		}
		p, _ := kubetest.Path(obj, true)
		must(c.Do(ctx, http.MethodPut, p, nil, obj))
	}
	// A container added to a running Pod through the ephemeralcontainers subresource.
	pod := must(c.Create(ctx, podObject(fixtureNS, "debugged", previousImage), false))
	pod["spec"].(map[string]any)["ephemeralContainers"] = []any{map[string]any{"name": "debug", "image": fixtureImage}}
	p, _ := kubetest.Path(pod, true)
	must(c.Do(ctx, http.MethodPut, p+"/ephemeralcontainers", nil, pod))

	if err := os.MkdirAll(filepath.Join("testdata", "reviews"), 0o755); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for key, body := range recorded {
		if err := os.WriteFile(filepath.Join("testdata", "reviews", key+".json"), body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if len(recorded) != 2*len(workloadKinds)+1 {
		t.Errorf("recorded %d reviews, want %d", len(recorded), 2*len(workloadKinds)+1)
	}
}
