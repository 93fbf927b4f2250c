package policy

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/ingot-build/ingot/internal/goldtest"
	"github.com/ingot-build/ingot/internal/regtest"
	"github.com/ingot-build/ingot/pkg/sign"
)

// world is a loopback registry holding images in every state, and the keys.
type world struct {
	host        string
	flaky       *regtest.Flaky
	dir         string
	gold, other goldtest.Key
	images      map[string]name.Digest
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{flaky: &regtest.Flaky{}, dir: t.TempDir(), gold: goldtest.MustKey(t), other: goldtest.MustKey(t), images: map[string]name.Digest{}}
	w.host = regtest.Registry(t, regtest.WithHandler(w.flaky.Wrap))
	w.gold.WriteFile(t, w.dir, "gold.pub")
	w.other.WriteFile(t, w.dir, "other.pub")
	push := func(key string, o goldtest.Image) {
		w.images[key] = goldtest.MustPush(t, w.host, o)
	}
	push("gold", goldtest.Image{Repo: "gold/app", Signer: w.gold.Signer, Attest: goldtest.Gold()})
	push("unsigned", goldtest.Image{Repo: "gold/unsigned"})
	push("wrongkey", goldtest.Image{Repo: "gold/wrongkey", Signer: w.other.Signer, Attest: goldtest.Gold()})
	push("critical", goldtest.Image{Repo: "gold/critical", Signer: w.gold.Signer,
		Attest: []sign.Predicate{goldtest.VulnPredicate(goldtest.Critical("CVE-2026-0001")), goldtest.ProvenancePredicate("https://ingot.build/builder/cli/v1")}})
	push("foreign", goldtest.Image{Repo: "gold/foreign", Signer: w.gold.Signer,
		Attest: []sign.Predicate{goldtest.VulnPredicate(), goldtest.ProvenancePredicate("https://ci.example.com/somebody-else")}})
	push("index", goldtest.Image{Repo: "gold/multi", Platforms: 2, Signer: w.gold.Signer, Attest: goldtest.Gold()})
	// An index whose second platform image has provenance but no vulnerability report.
	partial := goldtest.MustPush(t, w.host, goldtest.Image{Repo: "gold/partial", Platforms: 2, Signer: w.gold.Signer})
	ps, err := goldtest.PlatformDigests(context.Background(), partial)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sign.Attest(context.Background(), ps[0], w.gold.Signer, goldtest.Gold(), sign.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := sign.Attest(context.Background(), ps[1], w.gold.Signer, goldtest.Gold()[1:], sign.Options{}); err != nil {
		t.Fatal(err)
	}
	w.images["partial"] = partial
	return w
}

// policy writes a gold policy for the world's registry, with extra YAML appended.
func (w *world) policy(t *testing.T, extra string) *Policy {
	t.Helper()
	body := `name: gold
keys:
  - {name: gold, file: gold.pub}
  - {name: other, file: other.pub}
rules:
  - name: gold images
    images: ["` + w.host + `/gold/**"]
    signature: {keys: [gold]}
    attestations:
      - type: vuln
        condition: '` + goldtest.NoCriticalCondition + `'
      - type: slsaprovenance1
        condition: '` + goldtest.BuilderCondition + `'
` + extra
	p, err := Parse([]byte(body), w.dir)
	if err != nil {
		t.Fatalf("%v\n%s", err, body)
	}
	return p
}

func (w *world) evaluator(t *testing.T, ps ...*Policy) *Evaluator {
	t.Helper()
	e, err := NewEvaluator(ps, NewSessionRegistry(sign.NewSession(sign.Options{})), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// failed returns the requirements that failed, in order.
func failed(r Result) []string {
	var out []string
	for _, d := range r.Decisions {
		for _, f := range d.Failures {
			out = append(out, f.Requirement)
		}
	}
	return out
}

func TestEvaluateImages(t *testing.T) {
	w := newWorld(t)
	e := w.evaluator(t, w.policy(t, ""))
	ctx := context.Background()
	tagOf := func(key, tag string) string { return w.images[key].Context().Tag(tag).String() }
	for _, tc := range []struct {
		name, image string
		want        []string // failed requirements
		says        string   // in the failure message
	}{
		{"gold by digest", w.images["gold"].String(), nil, ""},
		{"gold by tag", tagOf("gold", "v1"), nil, ""},
		{"gold tag and digest", tagOf("gold", "v1") + "@" + w.images["gold"].DigestStr(), nil, ""},
		{"gold index", w.images["index"].String(), nil, ""},
		{"unsigned", w.images["unsigned"].String(), []string{ReqSignature, ReqAttestation, ReqAttestation}, "no signatures found"},
		{"wrong key", w.images["wrongkey"].String(), []string{ReqSignature, ReqAttestation, ReqAttestation}, "signed by a different key"},
		{"critical finding", w.images["critical"].String(), []string{ReqAttestation}, "is not met"},
		{"another builder", w.images["foreign"].String(), []string{ReqAttestation}, "runDetails.builder.id"},
		{"platform without vuln report", w.images["partial"].String(), []string{ReqAttestation}, "linux/arm64"},
		{"tag and digest disagree", tagOf("gold", "v1") + "@" + w.images["unsigned"].DigestStr(), []string{ReqReference}, "points to " + w.images["gold"].DigestStr()},
		{"no such tag", tagOf("gold", "nope"), []string{ReqUnavailable}, "does not exist"},
		{"unmatched", w.host + "/elsewhere/app:v1", []string{ReqUnmatched}, "no rule of policy gold"},
		{"not a reference", w.host + "/gold/App", []string{ReqReference}, "not a valid repository name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.Evaluate(ctx, "default", tc.image)
			if got := failed(r); strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("failed %v, want %v: %+v", got, tc.want, r.Decisions)
			}
			if tc.says != "" && !strings.Contains(r.Decisions[0].Failures[0].Message, tc.says) {
				t.Errorf("the failure %q does not say %q", r.Decisions[0].Failures[0].Message, tc.says)
			}
			if len(tc.want) == 0 && r.Digest == "" {
				t.Error("a passing image has no digest in the result")
			}
		})
	}
}

// TestEvaluateMovedTag: a tag moved to another image after signing is judged by the image it points
// to now.
func TestEvaluateMovedTag(t *testing.T) {
	w := newWorld(t)
	e := w.evaluator(t, w.policy(t, ""))
	ctx := context.Background()
	ref := w.images["gold"].Context().Tag("v1").String()
	if r := e.Evaluate(ctx, "default", ref); len(failed(r)) != 0 {
		t.Fatalf("before the move: %+v", r.Decisions)
	}
	if err := goldtest.Retag(ctx, w.host, "gold/app", "v1", w.images["unsigned"]); err != nil {
		t.Fatal(err)
	}
	r := e.Evaluate(ctx, "default", ref)
	if got := failed(r); len(got) == 0 || got[0] != ReqSignature {
		t.Errorf("after the tag moved to an unsigned image: %v", r.Decisions)
	}
	if r.Digest != w.images["unsigned"].DigestStr() {
		t.Errorf("checked at %s, want the digest the tag points to now", r.Digest)
	}
}

func TestEvaluateScopeModesAndKeys(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	scoped := w.policy(t, "namespaces: {include: [prod-*, payments], exclude: [prod-sandbox]}\nmode: warn\n")
	e := w.evaluator(t, scoped)
	for ns, governed := range map[string]bool{"prod-web": true, "payments": true, "prod-sandbox": false, "dev": false, "prod": false} {
		r := e.Evaluate(ctx, ns, w.images["unsigned"].String())
		if got := len(r.Decisions) > 0; got != governed {
			t.Errorf("namespace %s governed: %v, want %v", ns, got, governed)
		}
		if governed && r.Decisions[0].Mode != Warn {
			t.Errorf("mode %s, want warn", r.Decisions[0].Mode)
		}
	}

	// Rotation: a rule trusting the previous and the current key admits images by either.
	rot := w.policy(t, "")
	rot.Rules[0].Signature.Keys = []string{"other", "gold"}
	rot.Rules[0].Attestations = nil
	if err := rot.Validate(); err != nil {
		t.Fatal(err)
	}
	e = w.evaluator(t, rot)
	for _, key := range []string{"gold", "wrongkey"} {
		if r := e.Evaluate(ctx, "default", w.images[key].String()); len(failed(r)) != 0 {
			t.Errorf("%s with both keys trusted: %+v", key, r.Decisions)
		}
	}

	// Allow-listed registries and unmatched images allowed.
	open := w.policy(t, "unmatched: allow\nregistries: [registry.example.com]\n")
	e = w.evaluator(t, open)
	r := e.Evaluate(ctx, "default", w.images["gold"].String())
	if got := failed(r); len(got) != 1 || got[0] != ReqRegistry || !strings.Contains(r.Decisions[0].Failures[0].Message, "not an allowed registry") {
		t.Errorf("a registry off the allow-list: %+v", r.Decisions)
	}
	open = w.policy(t, "unmatched: allow\nregistries: ['127.0.0.1:*']\n")
	e = w.evaluator(t, open)
	r = e.Evaluate(ctx, "default", w.host+"/elsewhere/app@"+w.images["unsigned"].DigestStr())
	if len(failed(r)) != 0 || !r.Decisions[0].Unmatched {
		t.Errorf("unmatched: allow: %+v", r.Decisions)
	}

	// Two policies: both decide, each in its own mode.
	audit := w.policy(t, "mode: audit\n")
	audit.Name = "audit-all"
	e = w.evaluator(t, scoped, audit)
	r = e.Evaluate(ctx, "prod-web", w.images["unsigned"].String())
	if len(r.Decisions) != 2 || r.Decisions[0].Mode != Warn || r.Decisions[1].Mode != Audit || r.Decisions[1].Passed() {
		t.Errorf("two policies: %+v", r.Decisions)
	}
}

// TestEvaluateRegistryDown: a registry that fails or throttles leaves the answer unknown, and the image
// is denied saying so (fail closed).
func TestEvaluateRegistryDown(t *testing.T) {
	w := newWorld(t)
	e := w.evaluator(t, w.policy(t, ""))
	for _, f := range []regtest.Failure{{Status: http.StatusServiceUnavailable}, {Status: http.StatusTooManyRequests, RetryAfter: "30"}, {Status: 0}} {
		w.flaky.FailAll(f)
		for _, ref := range []string{w.images["gold"].String(), w.images["gold"].Context().Tag("v1").String()} {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			r := e.Evaluate(ctx, "default", ref)
			cancel()
			got := failed(r)
			if len(got) != 1 || got[0] != ReqUnavailable {
				t.Errorf("status %d, %s: %+v", f.Status, ref, r.Decisions)
				continue
			}
			if msg := r.Decisions[0].Failures[0].Message; !strings.Contains(msg, "registry") || !strings.Contains(msg, "denied") {
				t.Errorf("status %d: the denial does not say the registry failed: %s", f.Status, msg)
			}
		}
	}
	w.flaky.Heal()
	if r := e.Evaluate(context.Background(), "default", w.images["gold"].String()); len(failed(r)) != 0 {
		t.Errorf("healed: %+v", r.Decisions)
	}
}

func TestPin(t *testing.T) {
	w := newWorld(t)
	e := w.evaluator(t, w.policy(t, ""))
	ctx := context.Background()
	tag := w.images["gold"].Context().Tag("v1").String()
	got, ok, err := e.Pin(ctx, "default", tag)
	if err != nil || !ok || got != tag+"@"+w.images["gold"].DigestStr() {
		t.Errorf("Pin(%s) = %s, %v, %v", tag, got, ok, err)
	}
	for _, img := range []string{w.images["gold"].String(), "registry.example.com/other:v1", "not a ref"} {
		if got, ok, err := e.Pin(ctx, "default", img); ok || err != nil {
			t.Errorf("Pin(%s) = %s, %v, %v; want nothing to pin", img, got, ok, err)
		}
	}
}
