package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/ingot-build/ingot/bench/internal/release"
	"github.com/ingot-build/ingot/internal/goldtest"
	"github.com/ingot-build/ingot/pkg/admission"
	"github.com/ingot-build/ingot/pkg/store"
)

// world is what setup prepares: a registry with the images, a data directory whose catalog records
// them, a policy, certificates, and the ingot binary.
type world struct {
	dir, data, ingot string
	host             string
	stopRegistry     func()
	signed           []name.Digest // the distinct gold images
	unsigned         name.Digest
	unmatched        string
	policy           string
	certDir          string
	ca               []byte
	reviewTemplate   []byte
	signedTags       []string
	unsignedTag      string
}

const policyTemplate = `name: gold
registries: ["HOST"]
keys: [{name: gold, file: gold.pub}]
rules:
  - name: gold images
    images: ["HOST/gold/**"]
    signature: {keys: [gold]}
    attestations:
      - type: vuln
        condition: 'NOCRIT'
      - type: slsaprovenance1
        condition: 'BUILDER'
    catalog:
      maxScanAge: 24h
`

func setup(ctx context.Context, cfg config) (*world, error) {
	w := &world{dir: cfg.work, data: filepath.Join(cfg.work, "data")}
	if err := os.RemoveAll(cfg.work); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(w.data, 0o755); err != nil {
		return nil, err
	}
	w.ingot = filepath.Join(cfg.work, "ingot")
	if err := release.Build(ctx, "", w.ingot, "./cmd/ingot"); err != nil {
		return nil, err
	}
	if err := w.startRegistry(); err != nil {
		return nil, err
	}
	key, err := goldtest.NewKey()
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(cfg.work, "gold.pub"), key.PEM, 0o644); err != nil {
		return nil, err
	}
	cat, err := store.Store{Root: w.data}.Catalog(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = cat.Close() }()
	now := time.Now()
	for i := range cfg.images {
		repo := fmt.Sprintf("gold/app-%02d", i)
		d, err := goldtest.Push(ctx, w.host, goldtest.Image{Repo: repo, Signer: key.Signer, Attest: goldtest.Gold()})
		if err != nil {
			return nil, err
		}
		if _, err := goldtest.Catalog(ctx, cat, filepath.Base(repo), d, now); err != nil {
			return nil, err
		}
		w.signed = append(w.signed, d)
		w.signedTags = append(w.signedTags, d.Context().Tag("v1").String())
	}
	if w.unsigned, err = goldtest.Push(ctx, w.host, goldtest.Image{Repo: "gold/unsigned"}); err != nil {
		return nil, err
	}
	w.unsignedTag = w.unsigned.Context().Tag("v1").String()
	w.unmatched = w.host + "/elsewhere/app:v1"
	w.policy = filepath.Join(cfg.work, "gold.yaml")
	body := strings.NewReplacer("HOST", w.host, "NOCRIT", goldtest.NoCriticalCondition, "BUILDER", goldtest.BuilderCondition).Replace(policyTemplate)
	if err := os.WriteFile(w.policy, []byte(body), 0o644); err != nil {
		return nil, err
	}
	certs, err := admission.NewCerts(admission.CertOptions{Service: "ingot-admission", Namespace: "ingot-system", Hosts: []string{"127.0.0.1"}})
	if err != nil {
		return nil, err
	}
	w.certDir, w.ca = filepath.Join(cfg.work, "certs"), certs.CACert
	if err := os.MkdirAll(w.certDir, 0o755); err != nil {
		return nil, err
	}
	for f, data := range map[string][]byte{"tls.crt": certs.Cert, "tls.key": certs.Key} {
		if err := os.WriteFile(filepath.Join(w.certDir, f), data, 0o600); err != nil {
			return nil, err
		}
	}
	if w.reviewTemplate, err = os.ReadFile(filepath.Join("pkg", "admission", "testdata", "reviews", "Pod-create.json")); err != nil {
		return nil, fmt.Errorf("run from the module root: %w", err)
	}
	return w, nil
}

// startRegistry serves go-containerregistry's in-memory registry on a loopback port.
func (w *world) startRegistry() error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: registry.New(registry.Logger(log.New(io.Discard, "", 0))), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	w.host = l.Addr().String()
	w.stopRegistry = func() { _ = srv.Close() }
	return nil
}

// review is the recorded Pod CREATE review with its images replaced by image.
func (w *world) review(image string) []byte {
	return bytes.ReplaceAll(w.reviewTemplate, []byte("registry.example.com/fixture/app:v1"), []byte(image))
}

// webhook is a running ingot admission serve.
type webhook struct {
	url    string
	cmd    *exec.Cmd
	client *http.Client
	done   chan error
}

// startWebhook runs ingot admission serve with the world's policy and extra flags.
func (w *world) startWebhook(ctx context.Context, logName string, extra ...string) (*webhook, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	_ = l.Close()
	logf, err := os.Create(filepath.Join(w.dir, logName))
	if err != nil {
		return nil, err
	}
	args := append([]string{"--data-dir", w.data, "admission", "serve", "--policy", w.policy, "--addr", addr,
		"--tls-cert", filepath.Join(w.certDir, "tls.crt"), "--tls-key", filepath.Join(w.certDir, "tls.key")}, extra...)
	cmd := exec.CommandContext(ctx, w.ingot, args...) //nolint:gosec // G204: the ingot just built
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	wh := &webhook{url: "https://" + addr, cmd: cmd, done: make(chan error, 1)}
	go func() { wh.done <- cmd.Wait(); _ = logf.Close() }()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(w.ca)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, MaxIdleConnsPerHost: 256, MaxConnsPerHost: 0}
	wh.client = &http.Client{Transport: tr, Timeout: 15 * time.Second}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		select {
		case err := <-wh.done:
			return nil, fmt.Errorf("ingot admission serve exited (%w); see %s", err, logf.Name())
		default:
		}
		if resp, err := wh.client.Get(wh.url + "/readyz"); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == 200 {
				return wh, nil
			}
		}
	}
	wh.stop()
	return nil, fmt.Errorf("ingot admission serve did not become ready; see %s", logf.Name())
}

// post sends one review and says whether it was admitted.
func (wh *webhook) post(body []byte) (bool, error) {
	resp, err := wh.client.Post(wh.url+"/validate?timeout=10s", "application/json", bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		return false, fmt.Errorf("%s: %s", resp.Status, b)
	}
	var out struct {
		Response struct {
			Allowed bool
			Status  *struct{ Message string }
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return false, err
	}
	return out.Response.Allowed, nil
}

// peakRSS is the process's peak resident memory (VmHWM), in bytes.
func (wh *webhook) peakRSS() int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", wh.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func (wh *webhook) stop() {
	_ = wh.cmd.Process.Signal(os.Interrupt)
	select {
	case <-wh.done: //nolint:errcheck // stopped on purpose: its exit status says nothing
	case <-time.After(15 * time.Second):
		_ = wh.cmd.Process.Kill()
		<-wh.done //nolint:errcheck // killed on purpose
	}
}

// noopWebhook admits every review: the API server's own cost of calling a webhook, as a floor.
type noopWebhook struct {
	url   string
	calls atomic.Int64
	stop  func()
}

func startNoop(w *world) (*noopWebhook, error) {
	pair, err := tls.LoadX509KeyPair(filepath.Join(w.certDir, "tls.crt"), filepath.Join(w.certDir, "tls.key"))
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	n := &noopWebhook{url: "https://" + l.Addr().String()}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, TLSConfig: &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12},
		Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			n.calls.Add(1)
			var rev struct {
				Request struct {
					UID string `json:"uid"`
				} `json:"request"`
			}
			if err := json.NewDecoder(r.Body).Decode(&rev); err != nil {
				http.Error(rw, err.Error(), http.StatusBadRequest)
				return
			}
			rw.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(rw, `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":%q,"allowed":true}}`, rev.Request.UID)
		})}
	go func() { _ = srv.ServeTLS(l, "", "") }()
	n.stop = func() { _ = srv.Close() }
	return n, nil
}
