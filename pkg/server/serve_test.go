package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ingot-build/ingot/pkg/catalog"
)

// slowCatalog holds List until released: a request in flight for as long as a test needs.
type slowCatalog struct {
	catalog.Catalog
	once    sync.Once
	entered chan struct{}
	release chan struct{}
}

func newSlow(c catalog.Catalog) *slowCatalog {
	return &slowCatalog{Catalog: c, entered: make(chan struct{}), release: make(chan struct{})}
}

func (s *slowCatalog) List(ctx context.Context, o catalog.ListOptions) ([]*catalog.Version, error) {
	s.once.Do(func() { close(s.entered) })
	<-s.release
	return s.Catalog.List(ctx, o)
}

type served struct {
	url    string
	cancel context.CancelFunc
	// finished is closed when Serve returned, with err.
	finished chan struct{}
	err      *error
}

// done waits for Serve to return, up to d; ok is false when it did not.
func (s served) done(d time.Duration) (ok bool, err error) {
	select {
	case <-s.finished:
		return true, *s.err
	case <-time.After(d):
		return false, nil
	}
}

// serveOn runs srv.Serve on a loopback listener until the returned cancel.
func serveOn(t *testing.T, srv *Server) served {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := served{url: "http://" + ln.Addr().String(), cancel: cancel, finished: make(chan struct{}), err: new(error)}
	go func() {
		*s.err = srv.Serve(ctx, ln)
		close(s.finished)
	}()
	t.Cleanup(func() {
		cancel()
		_, _ = s.done(30 * time.Second)
	})
	return s
}

type answer struct {
	status int
	body   []byte
	err    error
}

// getAsync asks for base+path in the background, through the OpenAPI validator.
func getAsync(t *testing.T, base, path, token string) <-chan answer {
	client := &http.Client{Transport: newValidator(t, base, &coverage{seen: map[string]bool{}})}
	ch := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			ch <- answer{err: err}
			return
		}
		defer func() { _ = resp.Body.Close() }()
		body, err := io.ReadAll(resp.Body)
		ch <- answer{status: resp.StatusCode, body: body, err: err}
	}()
	return ch
}

// TestGracefulShutdown: when Serve's context ends (SIGTERM in ingot serve), the server stops
// accepting connections at once, lets the request in flight finish with its answer, stops the
// background hook, and returns nil; readiness fails meanwhile.
func TestGracefulShutdown(t *testing.T) {
	c := openSQLite(t)
	seed(t, c)
	secret, _, err := CreateToken(context.Background(), c, "reader", catalog.ScopeRead, t0)
	if err != nil {
		t.Fatal(err)
	}
	slow := newSlow(c)
	bgStarted := make(chan struct{})
	var bgStopped atomic.Bool
	srv, err := New(Config{Catalog: slow, ShutdownTimeout: 20 * time.Second, Hooks: Hooks{Background: func(ctx context.Context) error {
		close(bgStarted)
		<-ctx.Done()
		bgStopped.Store(true)
		return ctx.Err()
	}}})
	if err != nil {
		t.Fatal(err)
	}
	s := serveOn(t, srv)
	<-bgStarted
	inFlight := getAsync(t, s.url, "/v1/versions?image=app", secret)
	<-slow.entered

	s.cancel()
	addr := strings.TrimPrefix(s.url, "http://")
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break // no longer accepting
		}
		_ = conn.Close()
		if time.Now().After(deadline) {
			t.Fatal("the server still accepts connections after shutdown began")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if ok, err := s.done(200 * time.Millisecond); ok {
		t.Fatalf("Serve returned (%v) with a request in flight", err)
	}
	if !bgStopped.Load() {
		t.Error("the background hook was not stopped at shutdown")
	}
	rec := httptestRecorder(srv, "/readyz")
	if rec != http.StatusServiceUnavailable {
		t.Errorf("readyz while shutting down: %d", rec)
	}

	close(slow.release)
	a := <-inFlight
	var vs []versionSummary
	if a.err != nil || a.status != http.StatusOK || json.Unmarshal(a.body, &vs) != nil || len(vs) != 2 {
		t.Errorf("the request in flight: %d %v %s", a.status, a.err, a.body)
	}
	if ok, err := s.done(10 * time.Second); !ok {
		t.Fatal("Serve did not return after the last request finished")
	} else if err != nil {
		t.Errorf("Serve after a clean shutdown: %v", err)
	}
}

// httptestRecorder asks srv's handler for path directly, without a token, and returns the status.
func httptestRecorder(srv *Server, path string) int {
	rw := &statusOnly{h: http.Header{}}
	req, _ := http.NewRequest(http.MethodGet, path, nil)
	srv.Handler().ServeHTTP(rw, req)
	return rw.status
}

type statusOnly struct {
	h      http.Header
	status int
}

func (s *statusOnly) Header() http.Header { return s.h }
func (s *statusOnly) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return len(b), nil
}
func (s *statusOnly) WriteHeader(code int) { s.status = code }

// TestShutdownTimeout: a request that outlives the shutdown timeout is cut off, and Serve says so;
// a long poll in flight answers at once instead of holding the shutdown.
func TestShutdownTimeout(t *testing.T) {
	c := openSQLite(t)
	seed(t, c)
	secret, _, err := CreateToken(context.Background(), c, "reader", catalog.ScopeRead, t0)
	if err != nil {
		t.Fatal(err)
	}
	slow := newSlow(c)
	t.Cleanup(func() { close(slow.release) })
	srv, err := New(Config{Catalog: slow, ShutdownTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s := serveOn(t, srv)
	poll := getAsync(t, s.url, "/v1/events?after=100&wait=60s", secret)
	stuck := getAsync(t, s.url, "/v1/versions", secret)
	<-slow.entered
	time.Sleep(100 * time.Millisecond) // the long poll is waiting
	start := time.Now()
	s.cancel()
	a := <-poll
	if a.err != nil || a.status != http.StatusOK || !strings.Contains(string(a.body), `"events":[]`) || time.Since(start) > 5*time.Second {
		t.Errorf("the long poll at shutdown: %d %v %s after %s", a.status, a.err, a.body, time.Since(start))
	}
	if ok, err := s.done(10 * time.Second); !ok {
		t.Fatal("Serve did not give up after its shutdown timeout")
	} else if err == nil || !strings.Contains(err.Error(), "still running") {
		t.Errorf("Serve with a request past the timeout: %v", err)
	}
	if a := <-stuck; a.err == nil {
		t.Errorf("the stuck request was answered %d after the server closed", a.status)
	}
}

// TestBackgroundFails: a background hook that fails stops the server, with its error.
func TestBackgroundFails(t *testing.T) {
	srv, err := New(Config{Catalog: openSQLite(t), Hooks: Hooks{Background: func(context.Context) error {
		return errors.New("scheduler lost its database")
	}}})
	if err != nil {
		t.Fatal(err)
	}
	s := serveOn(t, srv)
	if ok, err := s.done(10 * time.Second); !ok {
		t.Fatal("a failed background hook did not stop the server")
	} else if err == nil || !strings.Contains(err.Error(), "scheduler lost its database") {
		t.Errorf("Serve: %v", err)
	}
}

// TestTLS: with a certificate and key, Serve speaks HTTPS only.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	pool := writeCert(t, dir)
	if _, err := New(Config{Catalog: openSQLite(t), TLS: TLSFiles{CertFile: filepath.Join(dir, "cert.pem")}}); err == nil {
		t.Error("a certificate without its key was accepted")
	}
	srv, err := New(Config{Catalog: openSQLite(t), TLS: TLSFiles{CertFile: filepath.Join(dir, "cert.pem"), KeyFile: filepath.Join(dir, "key.pem")}})
	if err != nil {
		t.Fatal(err)
	}
	s := serveOn(t, srv)
	addr := strings.TrimPrefix(s.url, "http://")
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	resp, err := client.Get("https://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS == nil {
		t.Errorf("healthz over TLS: %d", resp.StatusCode)
	}
	resp, err = http.Get("http://" + addr + "/healthz")
	if err == nil {
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("the TLS server answered plain HTTP")
		}
	}
}

// writeCert writes a self-signed certificate for 127.0.0.1 and its key to dir, and returns a pool
// that trusts it.
func writeCert(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ingot test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for name, block := range map[string]*pem.Block{"cert.pem": {Type: "CERTIFICATE", Bytes: der}, "key.pem": {Type: "PRIVATE KEY", Bytes: keyDER}} {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}
