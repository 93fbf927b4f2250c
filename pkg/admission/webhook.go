package admission

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ingot-build/ingot/pkg/policy"
)

// Webhook answers admission reviews with a policy Evaluator: the validating webhook decides, the
// mutating one pins tags to digests. It never calls the API server.
type Webhook struct {
	Evaluator *policy.Evaluator
	// Logger receives one decision record per review (nil: none).
	Logger *slog.Logger
	// Metrics counts reviews (nil: none).
	Metrics *Metrics
	// Now is the clock for durations (nil: time.Now).
	Now func() time.Time
}

// Limits of what a response carries: the API server passes messages and warnings to clients, which
// show them on a terminal.
const (
	maxMessage   = 4000
	maxWarning   = 512
	maxWarnings  = 20
	checkWorkers = 8
)

// Outcome is a review's answer with what was decided about each image, for logs and the offline tools.
type Outcome struct {
	Review *Review         `json:"review"`
	Images []ImageDecision `json:"images,omitempty"`
	// Skipped says why no image was looked at ("not governed", "operation DELETE").
	Skipped string `json:"skipped,omitempty"`
}

// ImageDecision is one distinct image of a request, every field that names it, and the decision.
type ImageDecision struct {
	Fields []string      `json:"fields"`
	Result policy.Result `json:"result"`
}

// Allowed reports whether the review admitted the request.
func (o *Outcome) Allowed() bool { return o.Review.Response.Allowed }

// Validate decides a validating review: every image the object would run (containers, init and
// ephemeral containers, image volumes; on UPDATE, the images the update adds) under every policy that
// governs the namespace. A failed requirement of an enforcing policy denies the request, naming the
// image and the requirement; of a warning policy it becomes a warning; of an auditing one an audit
// annotation.
func (w *Webhook) Validate(ctx context.Context, req *Request) *Outcome {
	began := w.now()
	out := w.validate(ctx, req)
	decision := "allow"
	switch r := out.Review.Response; {
	case !r.Allowed:
		decision = "deny"
	case len(r.Warnings) > 0:
		decision = "warn"
	}
	took := w.now().Sub(began)
	w.Metrics.review("validate", req.Operation, req.Kind.Kind, decision, took)
	w.log("validate", req, out, decision, took)
	return out
}

func (w *Webhook) validate(ctx context.Context, req *Request) *Outcome {
	resp := &Response{UID: req.UID, Allowed: true}
	out := &Outcome{Review: reply(resp)}
	if req.Operation != OpCreate && req.Operation != OpUpdate {
		out.Skipped = "operation " + req.Operation
		return out
	}
	if !w.Evaluator.Governed(req.Namespace) {
		out.Skipped = "namespace " + req.Namespace + " is not governed by any policy"
		return out
	}
	refs, err := newImages(req)
	if err != nil {
		code := int32(400)
		if errors.Is(err, ErrUnknownKind) {
			code = 403
		}
		deny(resp, code, fmt.Sprintf("ingot: %s %s: %v", req.Kind.Kind, objectName(req), err))
		return out
	}
	out.Images = w.evaluate(ctx, req.Namespace, refs)
	w.compose(req, resp, out.Images)
	return out
}

// newImages lists the distinct images a request would run that the object did not already run: on
// UPDATE, images the old object had were checked when it was admitted, and an update that does not
// change them starts nothing new (a changed or added image, such as an ephemeral container, is new).
func newImages(req *Request) ([]ImageDecision, error) {
	refs, err := Images(req.Kind, req.Object)
	if err != nil {
		return nil, err
	}
	old := map[string]bool{}
	if req.Operation == OpUpdate && req.OldObject != nil {
		prev, err := Images(req.Kind, req.OldObject)
		if err != nil {
			return nil, err
		}
		for _, r := range prev {
			old[r.Image] = true
		}
	}
	var out []ImageDecision
	index := map[string]int{}
	for _, r := range refs {
		if old[r.Image] {
			continue
		}
		field := r.Field
		if r.Container != "" {
			field += fmt.Sprintf(" (%q)", r.Container)
		}
		if i, ok := index[r.Image]; ok {
			out[i].Fields = append(out[i].Fields, field)
			continue
		}
		index[r.Image] = len(out)
		out = append(out, ImageDecision{Fields: []string{field}, Result: policy.Result{Image: policy.Image{Written: r.Image}}})
	}
	return out, nil
}

// evaluate decides about each image, a few at a time (one, the usual case, in this goroutine).
func (w *Webhook) evaluate(ctx context.Context, namespace string, images []ImageDecision) []ImageDecision {
	decide := func(i int) {
		images[i].Result = w.Evaluator.Evaluate(ctx, namespace, images[i].Result.Image.Written)
		for _, d := range images[i].Result.Decisions {
			result := "pass"
			if !d.Passed() {
				result = d.Failures[0].Requirement
			}
			w.Metrics.image(d.Policy, string(d.Mode), result)
		}
	}
	if len(images) == 1 {
		decide(0)
		return images
	}
	var g errgroup.Group
	g.SetLimit(checkWorkers)
	for i := range images {
		g.Go(func() error {
			decide(i)
			return nil
		})
	}
	_ = g.Wait() // evaluations do not fail: failures are decisions
	return images
}

// compose turns the decisions into the response: a denial naming each image and requirement for
// enforcing policies, warnings for warning ones, audit annotations for auditing ones.
func (w *Webhook) compose(req *Request, resp *Response, images []ImageDecision) {
	var denied, audit []string
	var checked []string
	for _, img := range images {
		if img.Result.Digest != "" {
			checked = append(checked, img.Result.Image.Written+"="+img.Result.Digest)
		}
		for _, d := range img.Result.Decisions {
			if d.Passed() {
				continue
			}
			var reasons []string
			for _, f := range d.Failures {
				reasons = append(reasons, f.String())
			}
			line := fmt.Sprintf("image %q (%s): policy %s: %s", img.Result.Image.Written, strings.Join(img.Fields, ", "), d.Policy, strings.Join(reasons, "; "))
			switch d.Mode {
			case policy.Enforce:
				denied = append(denied, line)
			case policy.Warn:
				if len(resp.Warnings) < maxWarnings {
					resp.Warnings = append(resp.Warnings, truncate("ingot: "+line, maxWarning))
				}
			case policy.Audit:
				audit = append(audit, line)
			}
		}
	}
	resp.AuditAnnotations = map[string]string{}
	if len(checked) > 0 {
		resp.AuditAnnotations["images"] = strings.Join(checked, ", ")
	}
	if len(audit) > 0 {
		resp.AuditAnnotations["audit-failures"] = truncate(strings.Join(audit, " | "), maxMessage)
	}
	if len(resp.Warnings) > 0 {
		resp.AuditAnnotations["warn-failures"] = truncate(strings.Join(resp.Warnings, " | "), maxMessage)
	}
	if len(denied) > 0 {
		msg := fmt.Sprintf("ingot: %s %s is denied: %s", req.Kind.Kind, objectName(req), strings.Join(denied, " | "))
		deny(resp, 403, truncate(msg, maxMessage))
		resp.AuditAnnotations["decision"] = "deny"
	} else {
		resp.AuditAnnotations["decision"] = "allow"
	}
}

func deny(resp *Response, code int32, msg string) {
	resp.Allowed = false
	reason := "Forbidden"
	if code == 400 {
		reason = "BadRequest"
	}
	resp.Status = &Status{Status: "Failure", Code: code, Reason: reason, Message: msg}
}

func objectName(req *Request) string {
	n := req.Name
	if n == "" {
		n = "(name to be generated)"
	}
	if req.Namespace != "" {
		n = req.Namespace + "/" + n
	}
	if req.SubResource != "" {
		n += " (" + req.SubResource + ")"
	}
	return n
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}

// patchOp is one JSON Patch operation.
type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value string `json:"value"`
}

// Mutate answers a mutating review: each new image named by a tag only, that a rule of a policy
// governing the namespace matches, is pinned to the digest the tag points to now
// ("registry/app:1.0" becomes "registry/app:1.0@sha256:..."), so the kubelet runs exactly the image
// the validating webhook checked, even if the tag moves later. Nothing is denied here: an image that
// cannot be pinned (the registry did not answer) is left as it is, with a warning, and the validating
// webhook decides.
func (w *Webhook) Mutate(ctx context.Context, req *Request) *Outcome {
	began := w.now()
	resp := &Response{UID: req.UID, Allowed: true}
	out := &Outcome{Review: reply(resp)}
	var ops []patchOp
	if (req.Operation == OpCreate || req.Operation == OpUpdate) && w.Evaluator.Governed(req.Namespace) {
		refs, err := Images(req.Kind, req.Object)
		if err == nil {
			old := map[string]bool{}
			if req.Operation == OpUpdate {
				prev, _ := Images(req.Kind, req.OldObject) // unreadable: pin what is there
				for _, r := range prev {
					old[r.Image] = true
				}
			}
			ops = w.pins(ctx, req.Namespace, refs, old, resp)
		}
	}
	if len(ops) > 0 {
		patch, err := json.Marshal(ops)
		if err == nil {
			resp.Patch, resp.PatchType = patch, PatchTypeJSONPatch
		}
	}
	decision := "allow"
	if len(ops) > 0 {
		decision = "patch"
	}
	took := w.now().Sub(began)
	w.Metrics.review("mutate", req.Operation, req.Kind.Kind, decision, took)
	w.log("mutate", req, out, decision, took, slog.Int("pinned", len(ops)))
	return out
}

func (w *Webhook) pins(ctx context.Context, namespace string, refs []ImageRef, old map[string]bool, resp *Response) []patchOp {
	type pin struct {
		value string
		err   error
	}
	pinned := map[string]*pin{}
	var g errgroup.Group
	g.SetLimit(checkWorkers)
	var order []string
	for _, r := range refs {
		if old[r.Image] || pinned[r.Image] != nil {
			continue
		}
		p := &pin{}
		pinned[r.Image] = p
		order = append(order, r.Image)
		g.Go(func() error {
			v, ok, err := w.Evaluator.Pin(ctx, namespace, r.Image)
			if ok {
				p.value = v
			}
			p.err = err
			return nil
		})
	}
	_ = g.Wait() // pins do not fail the review
	for _, img := range order {
		if err := pinned[img].err; err != nil && len(resp.Warnings) < maxWarnings {
			resp.Warnings = append(resp.Warnings, truncate(fmt.Sprintf("ingot: could not pin %q to a digest: %v", img, err), maxWarning))
		}
	}
	var ops []patchOp
	for _, r := range refs {
		if p := pinned[r.Image]; p != nil && p.value != "" {
			ops = append(ops, patchOp{Op: "replace", Path: r.Pointer, Value: p.value})
		}
	}
	return ops
}

// logImage is one image in a decision record.
type logImage struct {
	Image     string            `json:"image"`
	Fields    []string          `json:"fields"`
	Digest    string            `json:"digest,omitempty"`
	Decisions []policy.Decision `json:"decisions,omitempty"`
}

func (w *Webhook) log(webhook string, req *Request, out *Outcome, decision string, took time.Duration, extra ...any) {
	if w.Logger == nil {
		return
	}
	var images []logImage
	for _, img := range out.Images {
		images = append(images, logImage{Image: img.Result.Image.Written, Fields: img.Fields, Digest: img.Result.Digest, Decisions: img.Result.Decisions})
	}
	attrs := []any{
		"webhook", webhook, "uid", req.UID, "operation", req.Operation, "kind", req.Kind.String(),
		"namespace", req.Namespace, "name", req.Name, "user", req.UserInfo.Username,
		"decision", decision, "duration", took,
	}
	if req.SubResource != "" {
		attrs = append(attrs, "subresource", req.SubResource)
	}
	if req.DryRun != nil && *req.DryRun {
		attrs = append(attrs, "dryRun", true)
	}
	if out.Skipped != "" {
		attrs = append(attrs, "skipped", out.Skipped)
	}
	if r := out.Review.Response; r.Status != nil {
		attrs = append(attrs, "message", r.Status.Message)
	}
	if len(images) > 0 {
		attrs = append(attrs, "images", images)
	}
	attrs = append(attrs, extra...)
	w.Logger.Info("admission", attrs...)
}

func (w *Webhook) now() time.Time {
	if w.Now == nil {
		return time.Now()
	}
	return w.Now()
}
