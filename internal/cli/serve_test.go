package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ingot-build/ingot/internal/testrepo"
	"github.com/ingot-build/ingot/pkg/catalog"
)

// TestToken: create prints the secret once (the catalog keeps its hash), ls never shows one,
// revoke disables it; bad scopes and names are usage errors.
func TestToken(t *testing.T) {
	data := t.TempDir()
	tok := func(args ...string) (string, string, error) {
		return run(t, append([]string{"--data-dir", data, "token"}, args...)...)
	}
	secret, stderr, err := tok("create", "ci", "--scope", "write")
	secret = strings.TrimSpace(secret)
	if err != nil || !strings.HasPrefix(secret, "ingot_") || len(secret) < 40 || !strings.Contains(stderr, "only now") {
		t.Fatalf("create: %q %q %v", secret, stderr, err)
	}
	if _, _, err := tok("create", "ci", "--scope", "read"); ExitCode(err) != ExitUsage {
		t.Errorf("a second token named ci: %v, want exit 2", err)
	}
	if _, _, err := tok("create", "viewer", "--scope", "admin"); ExitCode(err) != ExitUsage || !strings.Contains(err.Error(), "read or write") {
		t.Errorf("scope admin: %v", err)
	}
	if _, _, err := tok("create", "has space", "--scope", "read"); ExitCode(err) != ExitUsage {
		t.Errorf("a name with a space: %v", err)
	}
	if _, _, err := tok("create", "viewer", "--scope", "read"); err != nil {
		t.Fatal(err)
	}
	out, _, err := tok("ls", "-o", "json")
	var tokens []catalog.Token
	if err != nil || json.Unmarshal([]byte(out), &tokens) != nil || len(tokens) != 2 || tokens[0].Name != "ci" || tokens[0].Scope != "write" || tokens[1].Name != "viewer" {
		t.Fatalf("ls: %s %v", out, err)
	}
	if strings.Contains(out, secret) || strings.Contains(out, "hash") {
		t.Errorf("ls shows a secret or hash: %s", out)
	}
	if out, _, err := tok("revoke", "viewer"); err != nil || !strings.Contains(out, "revoked token viewer") {
		t.Errorf("revoke: %q %v", out, err)
	}
	if _, _, err := tok("revoke", "nobody"); ExitCode(err) != ExitFailure || !strings.Contains(err.Error(), "nobody") {
		t.Errorf("revoke of an unknown token: %v", err)
	}
	out, _, _ = tok("ls")
	if !strings.Contains(out, "viewer  read   ") || !strings.Contains(out, "revoked") {
		t.Errorf("ls after revoke:\n%s", out)
	}
}

// lockedBuffer is a bytes.Buffer a server goroutine writes while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestServe: ingot serve answers with the data directory's catalog and its tokens; a token revoked
// with ingot token revoke (another process) is refused from the next request on; at shutdown a long poll in flight is
// answered and the command returns cleanly.
func TestServe(t *testing.T) {
	data := t.TempDir()
	reader, _, err := run(t, "--data-dir", data, "token", "create", "dash", "--scope", "read")
	if err != nil {
		t.Fatal(err)
	}
	reader = strings.TrimSpace(reader)
	poller, _, err := run(t, "--data-dir", data, "token", "create", "poller", "--scope", "read")
	if err != nil {
		t.Fatal(err)
	}
	poller = strings.TrimSpace(poller)
	writer, _, err := run(t, "--data-dir", data, "token", "create", "ci", "--scope", "write")
	if err != nil {
		t.Fatal(err)
	}
	writer = strings.TrimSpace(writer)
	repo := testrepo.New(t, testrepo.Options{Packages: helloPackages("1.0")})
	if _, stderr, err := run(t, "--data-dir", data, "catalog", "add", writeSpec(t, repo, rebuildSpec)); err != nil {
		t.Fatalf("catalog add: %v\n%s", err, stderr)
	}

	var stderr lockedBuffer
	cmd := newRoot(&globalFlags{})
	cmd.SetArgs([]string{"--data-dir", data, "serve", "--listen", "127.0.0.1:0", "--shutdown-timeout", "10s"})
	cmd.SetOut(io.Discard)
	cmd.SetErr(&stderr)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()

	var addr string
	for deadline := time.Now().Add(20 * time.Second); addr == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		sc := bufio.NewScanner(strings.NewReader(stderr.String()))
		for sc.Scan() {
			var l struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == "serving" {
				addr = l.Addr
			}
		}
	}
	if addr == "" {
		t.Fatalf("ingot serve did not say where it listens:\n%s", stderr.String())
	}
	get := func(path string, token string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// The rebuild workers run in the server: a rebuild request is enqueued and worked (the cycle
	// the scheduler runs at start may have enqueued it first: then it is that one).
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/specs/app/rebuild", strings.NewReader(`{"reason": "new base config"}`))
	req.Header.Set("Authorization", "Bearer "+writer)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var job struct {
		ID   int64  `json:"id"`
		Name string `json:"name"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&job); err != nil || resp.StatusCode != http.StatusAccepted || job.ID == 0 || job.Name != "app" {
		t.Errorf("POST /v1/specs/app/rebuild: %d %+v %v", resp.StatusCode, job, err)
	}
	_ = resp.Body.Close()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		if _, body := get("/v1/versions?image=app", reader); strings.Contains(body, `"1.0"`) && strings.Contains(body, `"serial":1`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server's workers built nothing:\n%s", stderr.String())
		}
	}
	if code, body := get("/v1/sla", reader); code != http.StatusOK || !strings.Contains(body, `"findings":[]`) || !strings.Contains(body, `"targets":"critical=7d,high=14d,medium=30d"`) {
		t.Errorf("GET /v1/sla: %d %s", code, body)
	}
	if _, _, err := run(t, "--data-dir", data, "token", "revoke", "dash"); err != nil {
		t.Fatal(err)
	}
	if code, body := get("/v1/images", reader); code != http.StatusUnauthorized {
		t.Errorf("GET /v1/images with a token revoked meanwhile: %d %s", code, body)
	}

	poll := make(chan int, 1)
	go func() {
		code, _ := get("/v1/events?wait=60s", poller)
		poll <- code
	}()
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	cancel() // what SIGTERM does to the command's context
	select {
	case code := <-poll:
		if code != http.StatusOK {
			t.Errorf("the long poll at shutdown: %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the long poll was not answered at shutdown")
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ingot serve after shutdown: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("ingot serve did not stop")
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("shutdown took %s", time.Since(start))
	}
	for _, want := range []string{`"route":"GET /v1/versions"`, `"token":"dash"`, `"msg":"stopped"`, `"msg":"rebuild workers stopped"`} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("the log lacks %s:\n%s", want, stderr.String())
		}
	}
}

// TestServeFlags: bad flags are usage errors, found before anything listens.
func TestServeFlags(t *testing.T) {
	data := t.TempDir()
	if _, _, err := run(t, "--data-dir", data, "serve", "--log-format", "yaml"); ExitCode(err) != ExitUsage {
		t.Errorf("--log-format yaml: %v", err)
	}
	if _, _, err := run(t, "--data-dir", data, "serve", "--tls-cert", "c.pem"); ExitCode(err) != ExitUsage {
		t.Errorf("--tls-cert without --tls-key: %v", err)
	}
	if _, _, err := run(t, "--data-dir", data, "serve", "--shutdown-timeout", "0s"); ExitCode(err) != ExitUsage {
		t.Errorf("--shutdown-timeout 0s: %v", err)
	}
}
