package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ingot-build/ingot/internal/regtest"
	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/lock"
	"github.com/ingot-build/ingot/pkg/publish"
	"github.com/ingot-build/ingot/pkg/sign"
	"github.com/ingot-build/ingot/pkg/spec"
)

// publishChildEnv carries TestPublishChild's configuration from TestPublishKilled.
const publishChildEnv = "INGOT_TEST_PUBLISH_CHILD"

// publishChild is what the child process publishes, and where.
type publishChild struct {
	Data, Spec, Lock, Key, Password, Push string
}

// TestPublishChild is the process TestPublishKilled kills: it publishes the spec it is given, signed,
// into the registry it is given. Run on its own, it is skipped.
func TestPublishChild(t *testing.T) {
	raw := os.Getenv(publishChildEnv)
	if raw == "" {
		t.Skip("the child process of TestPublishKilled")
	}
	var c publishChild
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		t.Fatal(err)
	}
	s, err := spec.Load(c.Spec)
	if err != nil {
		t.Fatal(err)
	}
	l, err := lock.Read(c.Lock)
	if err != nil {
		t.Fatal(err)
	}
	signer := loadKey(t, c.Key, c.Password)
	opt := PublishOptions{
		Options: Options{DataDir: c.Data}, Catalog: openCatalog(t, c.Data), Push: c.Push, Signer: signer,
		Registry: publish.PushOptions{Transport: regtest.OfflineTransport(nil)},
		Sign:     sign.Options{RemoteOptions: sign.RemoteOptions{Transport: regtest.OfflineTransport(nil)}},
		Log:      os.Stderr,
	}
	v, err := Publish(context.Background(), s, l, opt)
	t.Fatalf("Publish returned (%v, %v): it should have been killed while signing", v, err)
}

func loadKey(t *testing.T, path, password string) sign.Signer {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := sign.LoadPrivateKey(data, []byte(password))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestPublishKilled kills (SIGKILL) a process publishing a signed version right after its image was
// pushed, while it signs: the version is left pending, not published, with no event; the image is
// in the registry under its immutable tag. CompletePending, in another process, then completes it:
// published, with its locations and every artifact verifying; a second CompletePending finds
// nothing to do.
func TestPublishKilled(t *testing.T) {
	repo := fixtureRepo(t)
	ctx := context.Background()
	data, dir := t.TempDir(), t.TempDir()
	s := appSpec(t, repo.URL, repo.Keyring, "")
	specFile := filepath.Join(dir, "ingot.yaml")
	if err := os.WriteFile(specFile, s.Canonical(), 0o644); err != nil {
		t.Fatal(err)
	}
	l := lockSpec(t, s, Options{DataDir: data})
	lockFile := filepath.Join(dir, "ingot.lock")
	if err := l.Write(lockFile); err != nil {
		t.Fatal(err)
	}
	priv, _, err := sign.GenerateKeyPair([]byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "ingot.key")
	if err := os.WriteFile(keyFile, priv, 0o600); err != nil {
		t.Fatal(err)
	}

	// The registry stalls the first signature manifest PUT until its client is gone: the push is
	// done, the signing has begun.
	stalled, released := make(chan struct{}), make(chan struct{})
	var once sync.Once
	host := regtest.Registry(t, regtest.WithHandler(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, ".sig") {
				first := false
				once.Do(func() { first = true; close(stalled) })
				if first {
					_, _ = io.Copy(io.Discard, r.Body) // so that the server notices the client go
					select {
					case <-r.Context().Done():
					case <-released:
					}
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}))
	push := host + "/golden/app"
	cfg, err := json.Marshal(publishChild{Data: data, Spec: specFile, Lock: lockFile, Key: keyFile, Password: "pw", Push: push})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestPublishChild$", "-test.count=1") //nolint:gosec // G204: this test binary
	cmd.Env = append(os.Environ(), publishChildEnv+"="+string(cfg))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case <-stalled:
	case err := <-exited:
		t.Fatalf("the child exited before signing (%v):\n%s", err, out.String())
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("the child did not reach the signing in 2 minutes:\n%s", out.String())
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := <-exited; err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("the child was not killed: %v\n%s", err, out.String())
	}
	close(released)
	if !strings.Contains(out.String(), "pushed "+push) {
		t.Fatalf("the child was killed before it said it pushed:\n%s", out.String())
	}

	cat := openCatalog(t, data)
	pending, err := cat.Pending(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 1 || pending[0].Tag() != "1.0-r1" {
		t.Fatalf("pending after the kill: %+v, want 1.0-r1", pending)
	}
	if _, err := cat.Get(ctx, catalog.Ref{Image: "app", Version: "1.0-r1"}); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("the killed run's version is found as published: %v", err)
	}
	if evs, _ := cat.Events(ctx, 0, 100); len(evs) != 0 {
		t.Errorf("events after the kill: %+v", evs)
	}
	tr := regtest.OfflineTransport(nil)
	if got := registryTag(t, push, "1.0-r1", tr); got != pending[0].Digest {
		t.Fatalf("the registry's 1.0-r1 is %s, want the pending version's %s", got, pending[0].Digest)
	}
	if _, err := remote.Head(mustTag(t, push+":latest"), remote.WithTransport(tr)); err == nil {
		t.Error("the moving tag latest was pushed before the version was signed")
	}

	signer := loadKey(t, keyFile, "pw")
	var log bytes.Buffer
	opt := PublishOptions{
		Options: Options{DataDir: data}, Catalog: cat, Signer: signer,
		Registry: publish.PushOptions{Transport: tr},
		Sign:     sign.Options{RemoteOptions: sign.RemoteOptions{Transport: tr}},
		Log:      &log,
	}
	done, err := CompletePending(ctx, opt)
	if err != nil {
		t.Fatalf("CompletePending: %v\n%s", err, log.String())
	}
	if len(done) != 1 || done[0].Abandoned || done[0].Version.ID != pending[0].ID {
		t.Fatalf("CompletePending did %+v, want the pending version completed", done)
	}
	v, err := cat.Get(ctx, catalog.Ref{Image: "app", Version: "1.0-r1"})
	if err != nil {
		t.Fatal(err)
	}
	if v.State != catalog.StatePublished {
		t.Fatalf("after CompletePending: %s", v.State)
	}
	want := catalog.Location{Kind: catalog.LocationRegistry, Ref: push + "@" + v.Digest}
	found := false
	for _, l := range v.Locations {
		found = found || l == want
	}
	if !found {
		t.Errorf("locations %+v lack %+v", v.Locations, want)
	}
	checkArtifacts(t, v, signer, opt.Sign)
	if got := registryTag(t, push, "latest", tr); got != v.Digest {
		t.Errorf("registry latest is %s, want %s", got, v.Digest)
	}
	if again, err := CompletePending(ctx, opt); err != nil || len(again) != 0 {
		t.Errorf("a second CompletePending: %+v %v, want nothing to do", again, err)
	}
}

func mustTag(t *testing.T, s string) name.Tag {
	t.Helper()
	r, err := name.NewTag(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
