package cli

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/ingot-build/ingot/internal/goldtest"
	"github.com/ingot-build/ingot/internal/regtest"
	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/store"
)

// admissionFixture is a loopback registry with a gold image, an unsigned one and a revoked one, a data
// directory whose catalog records them, and a gold policy.
type admissionFixture struct {
	g                       *globalFlags
	data, policy            string
	gold, unsigned, revoked string
}

func newAdmissionFixture(t *testing.T) admissionFixture {
	t.Helper()
	ctx := context.Background()
	host := regtest.Registry(t)
	key := goldtest.MustKey(t)
	f := admissionFixture{data: t.TempDir()}
	f.g = &globalFlags{transport: regtest.OfflineTransport(nil)}
	cat, err := store.Store{Root: f.data}.Catalog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cat.Close() }()
	for _, s := range []struct {
		repo string
		ref  *string
		sign bool
	}{{"gold/app", &f.gold, true}, {"gold/unsigned", &f.unsigned, false}, {"gold/revoked", &f.revoked, true}} {
		o := goldtest.Image{Repo: s.repo}
		if s.sign {
			o.Signer, o.Attest = key.Signer, goldtest.Gold()
		}
		d := goldtest.MustPush(t, host, o)
		goldtest.MustCatalog(t, cat, filepath.Base(s.repo), d, time.Now())
		*s.ref = d.Context().Tag("v1").String()
		if s.repo == "gold/revoked" {
			if _, err := cat.SetStatus(ctx, catalog.Ref{Image: "revoked", Version: d.DigestStr()},
				catalog.StatusChange{Status: catalog.StatusRevoked, Reason: "CVE-2026-0042", Actor: "security"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	dir := t.TempDir()
	key.WriteFile(t, dir, "gold.pub")
	f.policy = filepath.Join(dir, "gold.yaml")
	body := `name: gold
keys: [{name: gold, file: gold.pub}]
rules:
  - images: ["` + host + `/gold/**"]
    signature: {keys: [gold]}
    attestations:
      - type: vuln
        condition: '` + goldtest.NoCriticalCondition + `'
    catalog: {maxScanAge: 24h}
`
	if err := os.WriteFile(f.policy, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// run runs ingot on the fixture's data directory (the root command sets globalFlags.dataDir from
// --data-dir, so it is given as a flag).
func (f admissionFixture) run(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	return runWith(t, f.g, append([]string{"--data-dir", f.data}, args...)...)
}

func TestPolicyTest(t *testing.T) {
	f := newAdmissionFixture(t)
	out, _, err := f.run(t, "policy", "test", f.policy, "--image", f.gold, "--image", f.unsigned, "--image", f.revoked)
	if ExitCode(err) != ExitFindings {
		t.Fatalf("exit %d (%v), want 3", ExitCode(err), err)
	}
	for _, want := range []string{f.gold + " (sha256:", ": allowed by policy gold (enforce, rules: rule 1)", f.unsigned + " (sha256:",
		": denied by policy gold", "signature (rule 1): no signature by the key gold", "catalog (rule 1): revoked@1.0-r1", "CVE-2026-0042"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	out, _, err = f.run(t, "policy", "test", f.policy, "--image", f.gold, "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var results []struct {
		Digest    string
		Decisions []struct{ Policy string }
	}
	if err := json.Unmarshal([]byte(out), &results); err != nil || len(results) != 1 || results[0].Digest == "" || results[0].Decisions[0].Policy != "gold" {
		t.Errorf("json: %v %s", err, out)
	}
	if _, _, err := f.run(t, "policy", "test", f.policy, "--image", f.gold, "-n", "other"); err != nil {
		t.Errorf("another namespace: %v", err)
	}
	for _, args := range [][]string{{"policy", "test", f.policy}, {"policy", "test", "nope.yaml", "--image", "x"}, {"policy", "test", f.policy, "--image", "x", "-o", "sarif"}} {
		if _, _, err := f.run(t, args...); ExitCode(err) != ExitUsage {
			t.Errorf("%v: exit %d (%v), want 2", args, ExitCode(err), err)
		}
	}
	out, _, err = f.run(t, "policy", "schema")
	if err != nil || !strings.Contains(out, `"$id": "https://github.com/ingot-build/ingot/schema/policy.schema.json"`) {
		t.Errorf("schema: %v", err)
	}
}

// reviewFile writes a recorded review with the fixture image replaced.
func reviewFile(t *testing.T, name, image string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "pkg", "admission", "testdata", "reviews", name))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, bytes.ReplaceAll(data, []byte("registry.example.com/fixture/app:v1"), []byte(image)), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAdmissionReview(t *testing.T) {
	f := newAdmissionFixture(t)
	var resp struct {
		APIVersion, Kind string
		Response         struct {
			UID     string
			Allowed bool
			Status  struct{ Message string }
			Patch   []byte
		}
	}
	out, _, err := f.run(t, "admission", "review", reviewFile(t, "Deployment-create.json", f.revoked), "--policy", f.policy)
	if ExitCode(err) != ExitFindings {
		t.Fatalf("a revoked image: exit %d (%v), want 3", ExitCode(err), err)
	}
	if err := json.Unmarshal([]byte(out), &resp); err != nil || resp.Kind != "AdmissionReview" || resp.Response.Allowed ||
		!strings.Contains(resp.Response.Status.Message, "revoked") || resp.Response.UID == "" {
		t.Errorf("%v %s", err, out)
	}
	if out, _, err := f.run(t, "admission", "review", reviewFile(t, "Pod-ephemeralcontainers.json", f.gold), "--policy", f.policy); err != nil {
		t.Errorf("the gold image in an ephemeral container: %v\n%s", err, out)
	}
	out, _, err = f.run(t, "admission", "review", reviewFile(t, "Pod-create.json", f.gold), "--policy", f.policy, "--mutate")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(out), &resp); err != nil || !strings.Contains(string(resp.Response.Patch), f.gold+"@sha256:") {
		t.Errorf("mutate: %v %s", err, out)
	}
	if _, _, err := f.run(t, "admission", "review", f.policy, "--policy", f.policy); ExitCode(err) != ExitUsage {
		t.Errorf("not a review: exit %d (%v)", ExitCode(err), err)
	}
}

func TestAdmissionCertsAndManifests(t *testing.T) {
	f := newAdmissionFixture(t)
	dir := filepath.Join(t.TempDir(), "certs")
	if _, _, err := f.run(t, "admission", "certs", "--dir", dir, "--host", "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ca.crt", "ca.key", "tls.crt", "tls.key"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", name, err, fi)
		}
	}
	if _, _, err := f.run(t, "admission", "certs", "--dir", dir); ExitCode(err) != ExitUsage {
		t.Errorf("certs over existing files: exit %d (%v), want 2", ExitCode(err), err)
	}
	out, _, err := f.run(t, "admission", "manifests", "--image", "registry.example.com/ingot:1", "--ca", filepath.Join(dir, "ca.crt"),
		"--tls-cert", filepath.Join(dir, "tls.crt"), "--tls-key", filepath.Join(dir, "tls.key"), "--policy", f.policy, "--mutate", "--catalog-secret", "ingot-catalog")
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, doc := range strings.Split(out, "\n---\n") {
		var m struct{ Kind string }
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, m.Kind)
	}
	if got := strings.Join(kinds, " "); got != "Namespace ServiceAccount ConfigMap Secret Deployment Service ValidatingWebhookConfiguration MutatingWebhookConfiguration" {
		t.Errorf("kinds: %s", got)
	}
	if _, _, err := f.run(t, "admission", "manifests", "--image", "x", "--policy", f.policy, "--catalog-secret", "c"); ExitCode(err) != ExitUsage {
		t.Errorf("manifests without --ca: exit %d", ExitCode(err))
	}
	if _, _, err := f.run(t, "admission", "manifests", "--image", "x", "--ca", filepath.Join(dir, "ca.crt"), "--policy", f.policy); ExitCode(err) != ExitUsage ||
		!strings.Contains(err.Error(), "--catalog-secret") {
		t.Errorf("a policy that reads the catalog, without --catalog-secret: %v", err)
	}
}

// syncBuffer is written by a running command while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestAdmissionServe: the command serves HTTPS on the address it logs, decides a review, logs the
// decision as JSON with its reasons, and stops cleanly on a signal (its context ending).
func TestAdmissionServe(t *testing.T) {
	f := newAdmissionFixture(t)
	dir := t.TempDir()
	if _, _, err := f.run(t, "admission", "certs", "--dir", dir, "--host", "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd := newRoot(f.g)
	cmd.SetArgs([]string{"--data-dir", f.data, "admission", "serve", "--policy", f.policy, "--addr", "127.0.0.1:0", "--poll", "100ms",
		"--tls-cert", filepath.Join(dir, "tls.crt"), "--tls-key", filepath.Join(dir, "tls.key")})
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&stderr)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	var addr string
	for deadline := time.Now().Add(20 * time.Second); addr == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		sc := bufio.NewScanner(strings.NewReader(stderr.String()))
		for sc.Scan() {
			var rec struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "serving" {
				addr = rec.Addr
			}
		}
	}
	if addr == "" {
		cancel()
		t.Fatalf("no serving line: %s", stderr.String())
	}
	ca, _ := os.ReadFile(filepath.Join(dir, "ca.crt"))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	body, _ := os.ReadFile(reviewFile(t, "Pod-create.json", f.unsigned))
	resp, err := client.Post("https://"+addr+"/validate?timeout=10s", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var rev struct{ Response struct{ Allowed bool } }
	_ = json.NewDecoder(resp.Body).Decode(&rev)
	resp.Body.Close()
	if rev.Response.Allowed {
		t.Error("the unsigned image is admitted")
	}
	if r, err := client.Get("https://" + addr + "/readyz"); err != nil || r.StatusCode != 200 {
		t.Errorf("/readyz: %v %v", err, r)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve returned %v after its context ended", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop")
	}
	var logged bool
	sc := bufio.NewScanner(strings.NewReader(stderr.String()))
	for sc.Scan() {
		var rec struct {
			Msg, Decision, Kind string
			Images              []struct {
				Image     string
				Decisions []struct {
					Failures []struct{ Requirement string }
				}
			}
		}
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "admission" {
			logged = rec.Decision == "deny" && rec.Kind == "v1/Pod" && len(rec.Images) == 1 && rec.Images[0].Image == f.unsigned &&
				rec.Images[0].Decisions[0].Failures[0].Requirement == "signature"
		}
	}
	if !logged {
		t.Errorf("no decision log line with its reasons:\n%s", stderr.String())
	}
	if errors.Is(ctx.Err(), context.Canceled) && strings.Contains(stderr.String(), "level\":\"ERROR") {
		t.Errorf("errors logged: %s", stderr.String())
	}
}
