package admission

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/ingot-build/ingot/internal/goldtest"
)

// TestRecordedReviews: every review kube-apiserver sends for every kind (CREATE, UPDATE, the
// ephemeralcontainers subresource) is decided for each image state: the signed, current image is
// admitted; the unsigned one, the one signed with another key, the revoked one, the one with a stale
// scan and the one from a registry that is not allowed are denied, and the denial names the image, the
// field and the failed requirement. A Job's UPDATE cannot change its template, so it starts nothing new
// and is admitted whatever its image.
func TestRecordedReviews(t *testing.T) {
	w := newWorld(t)
	s := w.service(t, Options{})
	ctx := context.Background()
	for _, file := range fixtures(t) {
		for _, sc := range scenarios {
			t.Run(strings.TrimSuffix(file, ".json")+"/"+sc.name, func(t *testing.T) {
				image := w.refs[sc.name]
				rev := fixture(t, file, image)
				out := s.Webhook.Validate(ctx, rev.Request)
				resp := out.Review.Response
				if resp.UID != rev.Request.UID {
					t.Errorf("response uid %q, want the request's %q", resp.UID, rev.Request.UID)
				}
				if out.Review.APIVersion != ReviewAPIVersion || out.Review.Kind != ReviewKind {
					t.Errorf("response is %s %s", out.Review.APIVersion, out.Review.Kind)
				}
				wantAllowed := sc.fails == "" || file == "Job-update.json"
				if resp.Allowed != wantAllowed {
					t.Fatalf("allowed %v, want %v: %+v", resp.Allowed, wantAllowed, resp.Status)
				}
				if wantAllowed {
					if resp.AuditAnnotations["decision"] != "allow" {
						t.Errorf("audit annotations %v", resp.AuditAnnotations)
					}
					return
				}
				msg := resp.Status.Message
				if resp.Status.Code != 403 || resp.Status.Reason != "Forbidden" {
					t.Errorf("status %+v", resp.Status)
				}
				for _, want := range []string{image, sc.fails + " ", "policy gold"} {
					if !strings.Contains(msg, want) {
						t.Errorf("the denial does not say %q: %s", want, msg)
					}
				}
				field := "containers[0].image"
				if file == "Pod-ephemeralcontainers.json" {
					field = "spec.ephemeralContainers[0].image"
				}
				if !strings.Contains(msg, field) {
					t.Errorf("the denial does not name the field %s: %s", field, msg)
				}
				if resp.AuditAnnotations["decision"] != "deny" {
					t.Errorf("audit annotations %v", resp.AuditAnnotations)
				}
			})
		}
	}
}

// deniedFor runs a review and returns the denial message ("" when admitted).
func deniedFor(t *testing.T, s *Service, r *Review) string {
	t.Helper()
	out := s.Webhook.Validate(context.Background(), r.Request)
	if out.Review.Response.Allowed {
		return ""
	}
	return out.Review.Response.Status.Message
}

// TestBypasses: the ways around admission that other webhooks have had are all denied.
func TestBypasses(t *testing.T) {
	w := newWorld(t)
	s := w.service(t, Options{})
	ctx := context.Background()
	signed, unsigned := w.refs["signed"], w.refs["unsigned"]

	t.Run("ephemeral container through the subresource", func(t *testing.T) {
		msg := deniedFor(t, s, fixture(t, "Pod-ephemeralcontainers.json", unsigned))
		if !strings.Contains(msg, "spec.ephemeralContainers[0].image") || !strings.Contains(msg, unsigned) {
			t.Errorf("denial %q", msg)
		}
		if msg := deniedFor(t, s, fixture(t, "Pod-ephemeralcontainers.json", signed)); msg != "" {
			t.Errorf("a signed ephemeral container is denied (Kyverno denies every one): %s", msg)
		}
	})

	t.Run("image volume", func(t *testing.T) {
		for _, file := range []string{"Pod-create.json", "Deployment-create.json", "CronJob-update.json"} {
			r := edited(t, file, signed, func(obj map[string]any) {
				spec := obj["spec"].(map[string]any)
				for _, k := range map[string][]string{"Pod-create.json": nil, "Deployment-create.json": {"template"},
					"CronJob-update.json": {"jobTemplate", "spec", "template"}}[file] {
					spec = spec[k].(map[string]any)
				}
				if file != "Pod-create.json" {
					spec = spec["spec"].(map[string]any)
				}
				spec["volumes"].([]any)[0].(map[string]any)["image"].(map[string]any)["reference"] = unsigned
			})
			msg := deniedFor(t, s, r)
			if !strings.Contains(msg, "volumes[0].image.reference") || !strings.Contains(msg, unsigned) || strings.Contains(msg, "containers[0]") {
				t.Errorf("%s with an unsigned image volume: %q", file, msg)
			}
		}
	})

	t.Run("tag moved after signing", func(t *testing.T) {
		moved := w.digests["signed"].Context().Tag("moving").String()
		if err := goldtest.Retag(ctx, w.host, "gold/app", "moving", w.digests["signed"]); err != nil {
			t.Fatal(err)
		}
		if msg := deniedFor(t, s, fixture(t, "Pod-create.json", moved)); msg != "" {
			t.Fatalf("before the move: %s", msg)
		}
		if err := goldtest.Retag(ctx, w.host, "gold/app", "moving", w.digests["unsigned"]); err != nil {
			t.Fatal(err)
		}
		msg := deniedFor(t, s, fixture(t, "Pod-create.json", moved))
		if !strings.Contains(msg, "signature") || !strings.Contains(msg, w.digests["unsigned"].DigestStr()) {
			t.Errorf("after the tag moved to an unsigned image, with the signed one's verdict cached: %q", msg)
		}
	})

	t.Run("tag and digest disagree", func(t *testing.T) {
		ref := signed + "@" + w.digests["unsigned"].DigestStr()
		msg := deniedFor(t, s, fixture(t, "Pod-create.json", ref))
		if !strings.Contains(msg, "reference") || !strings.Contains(msg, "points to "+w.digests["signed"].DigestStr()) {
			t.Errorf("%s: %q", ref, msg)
		}
		if msg := deniedFor(t, s, fixture(t, "Pod-create.json", signed+"@"+w.digests["signed"].DigestStr())); msg != "" {
			t.Errorf("tag and digest that agree: %s", msg)
		}
	})

	t.Run("exemption labels and annotations set by the workload's author", func(t *testing.T) {
		for _, file := range []string{"Pod-create.json", "Deployment-create.json"} {
			r := edited(t, file, unsigned, func(obj map[string]any) {
				meta := obj["metadata"].(map[string]any)
				exempt := map[string]any{"ingot.build/exempt": "true", "admission.ingot.build/skip": "true", "policy.ingot.build/mode": "audit",
					"kubernetes.io/metadata.name": "kube-system"}
				meta["labels"], meta["annotations"] = exempt, exempt
			})
			if msg := deniedFor(t, s, r); !strings.Contains(msg, "signature") {
				t.Errorf("%s with exemption labels: %q", file, msg)
			}
		}
	})

	t.Run("unknown kind of pod template", func(t *testing.T) {
		for _, kind := range []GroupVersionKind{{"", "v1", "PodTemplate"}, {"argoproj.io", "v1alpha1", "Rollout"}, {"apps", "v1beta2", "Deployment"}} {
			r := fixture(t, "Deployment-create.json", signed)
			r.Request.Kind = kind
			out := s.Webhook.Validate(ctx, r.Request)
			if out.Allowed() || !strings.Contains(out.Review.Response.Status.Message, "unknown kind") {
				t.Errorf("%s: %+v", kind, out.Review.Response)
			}
		}
	})

	t.Run("case-variant and duplicate keys", func(t *testing.T) {
		// The API server reads "image" (case-sensitive); encoding/json would take "Image", given last.
		body := fixtureBytes(t, "Pod-create.json", signed)
		body = strings.Replace(body, `"image": "`+signed+`"`, `"image": "`+unsigned+`", "Image": "`+signed+`"`, 1)
		r, err := DecodeReview([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		if msg := deniedFor(t, s, r); !strings.Contains(msg, unsigned) {
			t.Errorf("\"image\" unsigned and \"Image\" signed: %q", msg)
		}
		body = fixtureBytes(t, "Pod-create.json", signed)
		body = strings.Replace(body, `"image": "`+signed+`"`, `"image": "`+unsigned+`", "image": "`+signed+`"`, 1)
		r, err = DecodeReview([]byte(body))
		if err == nil {
			out := s.Webhook.Validate(ctx, r.Request)
			if out.Allowed() {
				t.Error("a container with two image keys is admitted")
			}
		}
	})
}

func fixtureBytes(t testing.TB, file, image string) string {
	t.Helper()
	r := fixture(t, file, image)
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// redirect sends every registry request, whatever host it names, to one loopback registry: names of
// Docker Hub's registry then reach test images, and nothing leaves the machine.
type redirect struct{ host string }

func (r redirect) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.URL.Scheme, req.URL.Host, req.Host = "http", r.host, r.host
	return http.DefaultTransport.RoundTrip(req)
}

// TestRegistryNameTricks: every spelling of Docker Hub's registry and of a host (case, the default
// port, the aliases, library/, no tag) is matched by the rule written for it, so none reaches
// "unmatched: allow"; a look-alike host is not on the allow-list.
func TestRegistryNameTricks(t *testing.T) {
	w := newWorld(t)
	goldtest.MustPush(t, w.host, goldtest.Image{Repo: "library/nginx", Tag: "1.27"})
	goldtest.MustPush(t, w.host, goldtest.Image{Repo: "library/nginx", Tag: "latest"})
	p := w.writePolicy(t, "hub.yaml", "")
	body := `name: hub
unmatched: allow
registries: [docker.io, "` + w.host + `"]
keys: [{name: gold, file: gold.pub}]
rules:
  - images: ["docker.io/library/*"]
    signature: {keys: [gold]}
`
	if err := writeFile(p, body); err != nil {
		t.Fatal(err)
	}
	s := w.service(t, Options{Remote: remoteVia(w.host)}, p)
	for _, img := range []string{
		"nginx", "nginx:1.27", "library/nginx:1.27", "docker.io/nginx:1.27", "DOCKER.IO/library/nginx:1.27",
		"index.docker.io/nginx:1.27", "Index.Docker.Io:443/library/nginx", "registry-1.docker.io/library/nginx:1.27",
		"docker.io:443/nginx:1.27",
	} {
		msg := deniedFor(t, s, fixture(t, "Pod-create.json", img))
		if !strings.Contains(msg, "signature") {
			t.Errorf("%s: %q, want a signature denial", img, msg)
		}
	}
	for _, img := range []string{"docker.io.evil.example/library/nginx:1.27", "evil.example/docker.io/library/nginx"} {
		if msg := deniedFor(t, s, fixture(t, "Pod-create.json", img)); !strings.Contains(msg, "not an allowed registry") {
			t.Errorf("%s: %q, want the allow-list to refuse it", img, msg)
		}
	}
}

// TestModes: a warning policy admits with a warning naming the image and requirement; an auditing one
// admits and records the failure in an audit annotation; an enforcing one beside them still denies.
func TestModes(t *testing.T) {
	w := newWorld(t)
	warn := w.writePolicy(t, "warn.yaml", "mode: warn\n")
	audit := w.writePolicy(t, "audit.yaml", "mode: audit\n")
	for _, f := range []string{warn, audit} {
		data := readFile(t, f)
		name := strings.TrimSuffix(strings.TrimPrefix(f, w.dir+"/"), ".yaml")
		if err := writeFile(f, strings.Replace(data, "name: gold", "name: "+name, 1)); err != nil {
			t.Fatal(err)
		}
	}
	unsigned := w.refs["unsigned"]

	s := w.service(t, Options{}, warn)
	out := s.Webhook.Validate(context.Background(), fixture(t, "Deployment-create.json", unsigned).Request)
	r := out.Review.Response
	if !r.Allowed || len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], unsigned) || !strings.Contains(r.Warnings[0], "signature") {
		t.Errorf("warn: %+v", r)
	}

	s = w.service(t, Options{}, audit)
	out = s.Webhook.Validate(context.Background(), fixture(t, "Deployment-create.json", unsigned).Request)
	r = out.Review.Response
	if !r.Allowed || len(r.Warnings) != 0 || !strings.Contains(r.AuditAnnotations["audit-failures"], "signature") {
		t.Errorf("audit: %+v", r)
	}
	for k := range r.AuditAnnotations {
		if !validAnnotationKey(k) {
			t.Errorf("audit annotation key %q is not a valid qualified name", k)
		}
	}

	s = w.service(t, Options{}, warn, audit, w.policy)
	out = s.Webhook.Validate(context.Background(), fixture(t, "Deployment-create.json", unsigned).Request)
	r = out.Review.Response
	if r.Allowed || len(r.Warnings) != 1 || r.AuditAnnotations["audit-failures"] == "" {
		t.Errorf("warn, audit and enforce together: %+v", r)
	}
}

// validAnnotationKey: the API server prefixes a webhook's audit annotation keys with the webhook's
// name; the key itself must be a valid name part.
func validAnnotationKey(k string) bool {
	if k == "" || len(k) > 63 {
		return false
	}
	for i, c := range k {
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || (c == '-' || c == '.' || c == '_') && i > 0 && i < len(k)-1
		if !ok {
			return false
		}
	}
	return true
}

// TestMutatePins: the mutating webhook pins each governed tag to the digest it points to now, with a
// JSON patch at the right field, and leaves digests and ungoverned images alone; the validating
// webhook admits the pinned object.
func TestMutatePins(t *testing.T) {
	w := newWorld(t)
	s := w.service(t, Options{})
	ctx := context.Background()
	signed := w.refs["signed"]
	for _, file := range []string{"Pod-create.json", "Deployment-update.json", "CronJob-create.json"} {
		r := fixture(t, file, signed)
		out := s.Webhook.Mutate(ctx, r.Request)
		resp := out.Review.Response
		if !resp.Allowed || resp.PatchType != PatchTypeJSONPatch {
			t.Fatalf("%s: %+v", file, resp)
		}
		var ops []patchOp
		if err := json.Unmarshal(resp.Patch, &ops); err != nil {
			t.Fatal(err)
		}
		pinned := signed + "@" + w.digests["signed"].DigestStr()
		want := 3 // container, init container, image volume
		if len(ops) != want {
			t.Errorf("%s: %d patch operations, want %d: %+v", file, len(ops), want, ops)
		}
		for _, op := range ops {
			if op.Op != "replace" || op.Value != pinned || !strings.HasSuffix(op.Path, "/image") && !strings.HasSuffix(op.Path, "/reference") {
				t.Errorf("%s: %+v", file, op)
			}
		}
		// The patch is what the API server applies; apply it the same way and validate the result.
		r = edited(t, file, signed, func(obj map[string]any) { applyPatch(t, obj, ops) })
		if v := s.Webhook.Validate(ctx, r.Request); !v.Allowed() {
			t.Errorf("%s: the pinned object is denied: %+v", file, v.Review.Response.Status)
		}
		// base64 on the wire, as the API expects.
		raw, _ := json.Marshal(resp)
		var wire struct{ Patch string }
		_ = json.Unmarshal(raw, &wire)
		if dec, err := base64.StdEncoding.DecodeString(wire.Patch); err != nil || string(dec) != string(resp.Patch) {
			t.Errorf("the patch is not base64 on the wire: %s", raw)
		}
	}
	for _, img := range []string{w.digests["signed"].String(), "registry.example.com/other/app:v1"} {
		out := s.Webhook.Mutate(ctx, fixture(t, "Pod-create.json", img).Request)
		if len(out.Review.Response.Patch) != 0 {
			t.Errorf("%s was patched: %s", img, out.Review.Response.Patch)
		}
	}
	// A registry that does not answer: nothing pinned, a warning, and the request still admitted by
	// this webhook (the validating one decides).
	w.flaky.FailAll(failure503)
	out := s.Webhook.Mutate(ctx, fixture(t, "Pod-create.json", signed).Request)
	if r := out.Review.Response; !r.Allowed || len(r.Patch) != 0 || len(r.Warnings) != 1 {
		t.Errorf("registry down: %+v", r)
	}
	w.flaky.Heal()
}
