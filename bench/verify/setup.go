package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ingot-build/ingot/pkg/attest"
	"github.com/ingot-build/ingot/pkg/store"
)

// password protects the bench's key pair; both tools read it from COSIGN_PASSWORD.
const password = "ingot-bench"

// cosigns are the two peers: v2 writes and reads the legacy .sig/.att tags, v3 sigstore bundles.
type cosigns struct{ v2, v3 string }

// findCosigns looks for cosign v2 on PATH or in the CI cache, and v3 in $INGOT_COSIGN3 or the CI
// cache, and checks that each is the major version it is taken for.
func findCosigns(ctx context.Context) (cosigns, error) {
	home, _ := os.UserHomeDir()
	var c cosigns
	var problems []string
	for _, want := range []struct {
		major string
		dst   *string
		paths []string
	}{
		{"v2.", &c.v2, []string{lookPath("cosign"), filepath.Join(home, ".cache/ingot-ci/bin/cosign")}},
		{"v3.", &c.v3, []string{os.Getenv("INGOT_COSIGN3"), filepath.Join(home, ".cache/ingot-ci/bin/v3/cosign"), "/root/.cache/ingot-ci/bin3/cosign"}},
	} {
		var seen []string
		for _, p := range want.paths {
			if p == "" {
				continue
			}
			if _, err := os.Stat(p); err != nil {
				continue
			}
			out, err := exec.CommandContext(ctx, p, "version").CombinedOutput()
			v := gitVersion(string(out))
			if err == nil && strings.HasPrefix(v, want.major) {
				*want.dst = p
				break
			}
			seen = append(seen, fmt.Sprintf("%s is %q", p, v))
		}
		if *want.dst == "" {
			problems = append(problems, fmt.Sprintf("no cosign %sx found (%s)", want.major, strings.Join(seen, "; ")))
		}
	}
	if len(problems) > 0 {
		return c, fmt.Errorf("%s: install them as .ci/run does (go install github.com/sigstore/cosign/v2/cmd/cosign@v2.6.5, and v3 with INGOT_COSIGN3 naming it)", strings.Join(problems, "; "))
	}
	return c, nil
}

func lookPath(file string) string {
	p, err := exec.LookPath(file)
	if err != nil {
		return ""
	}
	return p
}

// registryConfig is docker-registry's configuration: filesystem storage under the work directory,
// quiet logs, loopback only (as internal/regtest's).
const registryConfig = `version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
http:
  addr: %s
`

// startRegistry starts Debian's docker-registry on a free loopback port with empty storage in dir,
// waits until it answers GET /v2/, and returns its host:port and a function that stops it.
func startRegistry(ctx context.Context, dir string) (string, func(), error) {
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		return "", nil, fmt.Errorf("docker-registry (Debian's, apt-get install docker-registry) is needed: %w", err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return "", nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, err
	}
	var lastErr error
	for range 3 { // another process can take the port between the probe and the registry's bind
		addr, err := freeLoopbackAddr(ctx)
		if err != nil {
			return "", nil, err
		}
		stop, err := serveRegistry(ctx, bin, dir, addr)
		if err == nil {
			return addr, stop, nil
		}
		lastErr = err
	}
	return "", nil, fmt.Errorf("starting docker-registry: %w", lastErr)
}

func serveRegistry(ctx context.Context, bin, dir, addr string) (func(), error) {
	cfg := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, registryConfig, filepath.Join(dir, "storage"), addr), 0o600); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	cmd := exec.Command(bin, "serve", cfg)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Kill() // it may have exited already
		var exit *exec.ExitError
		if err := <-exited; err != nil && !errors.As(err, &exit) { // killed: its exit status says only that
			log.Printf("docker-registry: %v", err)
		}
	}
	client := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		select {
		case err := <-exited:
			exited <- err
			stop()
			return nil, fmt.Errorf("docker-registry exited (%w): %s", err, out.String())
		default:
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/v2/", nil)
		if err != nil {
			stop()
			return nil, err
		}
		if resp, err := client.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return stop, nil
			}
		}
	}
	stop()
	return nil, fmt.Errorf("docker-registry on %s did not answer GET /v2/ within 15s: %s", addr, out.String())
}

func freeLoopbackAddr(ctx context.Context) (string, error) {
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("finding a free loopback port: %w", err)
	}
	addr := l.Addr().String()
	return addr, l.Close()
}

// offlineEnv is the environment of every timed command, ingot's and cosign's alike: a fresh HOME
// (so no ~/.sigstore, TUF cache or registry credentials are read), and HTTP(S) proxies pointing at a
// closed loopback port, so anything that tries to leave the machine (cosign's TUF mirror, Rekor)
// fails at once. Loopback is never proxied, so the registry stays reachable.
func offlineEnv(ctx context.Context, home string) ([]string, error) {
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, err
	}
	closed, err := freeLoopbackAddr(ctx)
	if err != nil {
		return nil, err
	}
	proxy := "http://" + closed
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"TMPDIR=" + home,
		"DOCKER_CONFIG=" + filepath.Join(home, ".docker"),
		"TUF_ROOT=" + filepath.Join(home, ".sigstore", "root"),
		"XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"XDG_CACHE_HOME=" + filepath.Join(home, ".cache"),
		"HTTP_PROXY=" + proxy, "HTTPS_PROXY=" + proxy, "http_proxy=" + proxy, "https_proxy=" + proxy,
		"NO_PROXY=", "no_proxy=",
		"COSIGN_PASSWORD=" + password,
	}, nil
}

// predicateFile is one evidence document, written out for --predicate.
type predicateFile struct{ typ, path string }

// writePredicates renders the evidence recorded for image d as predicates and writes each to its own
// file under dir, so every tool attests the very same documents.
func writePredicates(st store.Store, d v1.Hash, dir string) ([]predicateFile, error) {
	set, err := st.ReadEvidence(d)
	if err != nil {
		return nil, fmt.Errorf("reading the evidence of %s: %w", d, err)
	}
	preds, err := attest.Predicates(set)
	if err != nil {
		return nil, fmt.Errorf("the evidence of %s: %w", d, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var out []predicateFile
	for i, p := range preds {
		path := filepath.Join(dir, fmt.Sprintf("%d.json", i))
		if err := os.WriteFile(path, p.JSON, 0o644); err != nil {
			return nil, err
		}
		out = append(out, predicateFile{p.Type, path})
	}
	return out, nil
}

// freshImages pushes copies of a base image that differ only in a manifest annotation, so each has a
// digest no signature names yet while its layers and config are already in the registry. Signing
// them is real work (a new .sig and .att, new bundles) on an image exactly like the built one.
type freshImages struct {
	base v1.Image
	repo name.Repository
	n    int
}

func newFreshImages(ctx context.Context, ref name.Reference) (*freshImages, error) {
	img, err := remote.Image(ref, remote.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", ref, err)
	}
	return &freshImages{base: img, repo: ref.Context()}, nil
}

// lendEvidence makes the base image's recorded evidence the evidence of a fresh image too, so that
// ingot attest can attest it without --predicate, as ingot build --sign does: the fresh image
// differs from the built one by a manifest annotation only. It links
// <data>/evidence/bench-fresh/<hex> to the base image's evidence directory.
func lendEvidence(dataDir, baseDir string, d name.Digest) error {
	h, err := v1.NewHash(d.DigestStr())
	if err != nil {
		return err
	}
	dir := store.Store{Root: dataDir}.EvidenceDir("bench-fresh", h)
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	return os.Symlink(baseDir, dir)
}

func (f *freshImages) next(ctx context.Context) (name.Digest, error) {
	f.n++
	tag := fmt.Sprintf("fresh-%d", f.n)
	img, ok := mutate.Annotations(f.base, map[string]string{
		"dev.ingot.bench.fresh": fmt.Sprintf("%d-%d", time.Now().UnixNano(), f.n),
	}).(v1.Image)
	if !ok {
		return name.Digest{}, errors.New("annotating an image did not return an image")
	}
	d, err := img.Digest()
	if err != nil {
		return name.Digest{}, err
	}
	if err := remote.Write(f.repo.Tag(tag), img, remote.WithContext(ctx)); err != nil {
		return name.Digest{}, fmt.Errorf("pushing %s: %w", tag, err)
	}
	return f.repo.Digest(d.String()), nil
}
