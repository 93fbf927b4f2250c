package regtest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
)

// RegistryOption configures Registry.
type RegistryOption func(*registryConfig)

type registryConfig struct {
	referrers bool
	wrap      []func(http.Handler) http.Handler
}

// WithReferrers turns the OCI 1.1 referrers API on (the default) or off. Off, the registry answers
// GET /v2/NAME/referrers/DIGEST with 404, as Debian's docker-registry does, and clients must fall back
// to the sha256-<hex> referrers tag.
func WithReferrers(enabled bool) RegistryOption {
	return func(c *registryConfig) { c.referrers = enabled }
}

// WithHandler wraps the registry's handler, for example with (*Flaky).Wrap. Several wrappers apply in
// order, the first one outermost.
func WithHandler(wrap func(http.Handler) http.Handler) RegistryOption {
	return func(c *registryConfig) { c.wrap = append(c.wrap, wrap) }
}

// Registry starts go-containerregistry's in-memory registry on a loopback httptest server, stopped
// when the test ends, and returns its host:port. Referrers API support is on unless
// WithReferrers(false); it follows the OCI spec — artifactType from the manifest, the ?artifactType=
// filter — where ggcr's own handler does not (see specReferrers).
func Registry(t testing.TB, opts ...RegistryOption) string {
	t.Helper()
	c := registryConfig{referrers: true}
	for _, o := range opts {
		o(&c)
	}
	h := registry.New(
		registry.Logger(log.New(io.Discard, "", 0)),
		registry.WithReferrersSupport(c.referrers),
	)
	if c.referrers {
		h = specReferrers(h)
	}
	for i := len(c.wrap) - 1; i >= 0; i-- {
		h = c.wrap[i](h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return hostPort(t, srv.URL)
}

// Front puts a loopback reverse proxy in front of the registry at upstream (another Registry, or a
// DockerRegistry), its handler wrapped by wrap, and returns the proxy's host:port. It lets a Flaky
// sit in front of the real docker-registry.
func Front(t testing.TB, upstream string, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	target := &url.URL{Scheme: "http", Host: upstream}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ErrorLog = log.New(io.Discard, "", 0)
	srv := httptest.NewServer(wrap(rp))
	t.Cleanup(srv.Close)
	return hostPort(t, srv.URL)
}

func hostPort(t testing.TB, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatalf("parsing the test server's URL %q: %v", rawURL, err)
	}
	return u.Host
}

// dockerRegistryConfig is docker-registry's configuration: filesystem storage, deletes allowed (so
// tests can check what a retry leaves behind), quiet logs, loopback only.
const dockerRegistryConfig = `version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
`

// DockerRegistry starts Debian's docker-registry (the distribution project's registry, 2.8) on a free
// loopback port with its storage in a temporary directory, waits until it answers GET /v2/, and
// returns its host:port; it is killed when the test ends. It has no referrers API, which is the point:
// clients must use the referrers tag scheme with it. Without /usr/bin/docker-registry the test is
// skipped, or fails when CI is set.
func DockerRegistry(t testing.TB) string {
	t.Helper()
	bin := Peer(t, "docker-registry")
	dir := t.TempDir()
	var lastErr error
	// Another process can take the free port between our probe and the registry's bind; try again.
	for range 3 {
		addr, err := freeLoopbackAddr()
		if err != nil {
			t.Fatalf("finding a free port for docker-registry: %v", err)
		}
		if lastErr = startDockerRegistry(t, bin, dir, addr); lastErr == nil {
			return addr
		}
	}
	t.Fatalf("starting docker-registry: %v", lastErr)
	return ""
}

func startDockerRegistry(t testing.TB, bin, dir, addr string) error {
	t.Helper()
	cfg := filepath.Join(dir, "config-"+sanitize(addr)+".yml")
	data := fmt.Sprintf(dockerRegistryConfig, filepath.Join(dir, "storage"), addr)
	if err := os.WriteFile(cfg, []byte(data), 0o600); err != nil {
		return err
	}
	out := &lockedBuffer{}
	cmd := exec.Command(bin, "serve", cfg) //nolint:gosec // G204: the docker-registry found on PATH, by design
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Kill() // it may have exited already; Wait below reports either way
		<-exited               //nolint:errcheck // killed on purpose: its exit status says nothing
	}

	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			exited <- err
			stop()
			return fmt.Errorf("docker-registry exited (%w): %s", err, out.String())
		default:
		}
		resp, err := client.Get("http://" + addr + "/v2/")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				t.Cleanup(stop)
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	return fmt.Errorf("docker-registry on %s did not answer GET /v2/ within 15s: %s", addr, out.String())
}

// freeLoopbackAddr asks the kernel for a free port on 127.0.0.1.
func freeLoopbackAddr() (string, error) {
	var lc net.ListenConfig
	l, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	return addr, l.Close()
}

func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == ':' || c == '/' {
			b[i] = '_'
		}
	}
	return string(b)
}

// lockedBuffer collects a child process's output while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
