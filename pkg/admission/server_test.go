package admission

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ingot-build/ingot/internal/regtest"
	"github.com/ingot-build/ingot/pkg/sign"
)

// serveTLS runs Server on a loopback port with fresh certificates written to dir; it returns the base
// URL and a client that trusts the CA.
func serveTLS(t *testing.T, s *Server, dir string) (string, *http.Client, *Certs) {
	t.Helper()
	certs, err := NewCerts(CertOptions{Service: "w", Namespace: "n", Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	writeCerts(t, dir, certs)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.ServeTLS(ctx, l, filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeTLS: %v", err)
		}
	})
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certs.CACert)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, DisableKeepAlives: true}}
	return "https://" + l.Addr().String(), client, certs
}

func writeCerts(t *testing.T, dir string, c *Certs) {
	t.Helper()
	for name, data := range map[string][]byte{"tls.crt": c.Cert, "tls.key": c.Key} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestServer: the endpoints over TLS, the metrics a review moves, a malformed review refused, and
// readiness following the catalog.
func TestServer(t *testing.T) {
	w := newWorld(t)
	m := NewMetrics()
	s := w.service(t, Options{Metrics: m})
	ready := error(nil)
	srv := &Server{Webhook: s.Webhook, Metrics: m, Ready: func() error { return ready }}
	url, client, _ := serveTLS(t, srv, t.TempDir())

	if code, body := get(t, client, url+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	if code, _ := get(t, client, url+"/readyz"); code != 200 {
		t.Errorf("/readyz: %d", code)
	}
	ready = errors.New("the catalog's events are not being followed")
	if code, body := get(t, client, url+"/readyz"); code != 503 || !strings.Contains(body, "not ready") {
		t.Errorf("/readyz when not ready: %d %q", code, body)
	}
	body, _ := json.Marshal(fixture(t, "Deployment-create.json", w.refs["unsigned"]))
	resp, err := client.Post(url+"/validate?timeout=10s", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var out Review
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Response == nil || out.Response.Allowed {
		t.Fatalf("review: %v %+v", err, out.Response)
	}
	resp.Body.Close()
	_, metrics := get(t, client, url+"/metrics")
	for _, want := range []string{
		`ingot_admission_reviews_total{decision="deny",kind="Deployment",operation="CREATE",webhook="validate"} 1`,
		`ingot_admission_image_decisions_total{mode="enforce",policy="gold",result="signature"} 1`,
		`ingot_admission_review_duration_seconds_bucket`, `ingot_admission_cache_lookups_total{cache="registry",result="miss"}`,
		`ingot_admission_catalog_event_seq`, `go_goroutines`, `process_resident_memory_bytes`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	for _, bad := range []string{`{}`, `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`, `{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"x"}}`, `not json`} {
		resp, err := client.Post(url+"/validate", "application/json", strings.NewReader(bad))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", bad, resp.StatusCode)
		}
	}
	if code, _ := get(t, client, url+"/validate"); code != http.StatusMethodNotAllowed {
		t.Errorf("GET /validate: %d", code)
	}
	resp, err = client.Post(url+"/mutate", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("/mutate without --mutate: %d", resp.StatusCode)
	}
}

// TestAnswerWithinTimeout: with the registry throttling, the answer (a denial saying why) arrives
// before the API server's timeout, not after it.
func TestAnswerWithinTimeout(t *testing.T) {
	w := newWorld(t)
	s := w.service(t, Options{Remote: sign.RemoteOptions{Retry: remoteBackoff(300*time.Millisecond, 20)}})
	url, client, _ := serveTLS(t, &Server{Webhook: s.Webhook}, t.TempDir())
	w.flaky.FailAll(regtest.Failure{Status: http.StatusTooManyRequests})
	body, _ := json.Marshal(fixture(t, "Pod-create.json", w.digests["signed"].String()))
	began := time.Now()
	resp, err := client.Post(url+"/validate?timeout=2s", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	took := time.Since(began)
	var out Review
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if out.Response.Allowed || !strings.Contains(out.Response.Status.Message, "429") {
		t.Errorf("%+v", out.Response.Status)
	}
	if took > 2*time.Second {
		t.Errorf("answered after %s, past the API server's 2s timeout", took)
	}
	t.Logf("answered in %s: %s", took.Round(time.Millisecond), out.Response.Status.Message)
}

// TestCertificateReload: a rotated certificate is served without a restart.
func TestCertificateReload(t *testing.T) {
	w := newWorld(t)
	s := w.service(t, Options{})
	dir := t.TempDir()
	url, _, _ := serveTLS(t, &Server{Webhook: s.Webhook, certCheckEvery: 50 * time.Millisecond}, dir)
	served := func() []byte {
		conn, err := tls.Dial("tcp", strings.TrimPrefix(url, "https://"), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // reading which certificate is served
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = conn.Close() }()
		return conn.ConnectionState().PeerCertificates[0].Raw
	}
	before := served()
	second, err := NewCerts(CertOptions{Service: "w", Namespace: "n", Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // a later modification time
	writeCerts(t, dir, second)
	deadline := time.Now().Add(5 * time.Second)
	for bytes.Equal(served(), before) {
		if time.Now().After(deadline) {
			t.Fatal("the rotated certificate is not served after 5s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
