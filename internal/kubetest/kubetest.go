// Package kubetest runs a real kube-apiserver on loopback for tests and benchmarks: Debian's etcd and a
// kube-apiserver built from its Go module (.ci/build-kube-apiserver.sh), with a self-signed serving
// certificate, service-account keys, a token with system:masters and RBAC. There is no scheduler,
// controller manager or kubelet: objects are admitted and stored, nothing runs. Clients talk to it
// with net/http and JSON (no client-go).
package kubetest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Options configure a cluster.
type Options struct {
	// Dir holds etcd's data, the keys and the logs (a temporary directory the caller removes).
	Dir string
	// APIServer and Etcd are the binaries (see FindAPIServer; etcd on PATH when empty).
	APIServer, Etcd string
	// Args are more kube-apiserver flags.
	Args []string
}

// Cluster is a running etcd and kube-apiserver.
type Cluster struct {
	// URL is the API server's https://127.0.0.1:PORT; Token a bearer token of a system:masters user.
	URL, Token string
	// CA is the PEM certificate of the CA that signed the API server's serving certificate.
	CA     []byte
	Client *http.Client
	dir    string
	procs  []*proc
}

// DefaultAPIServer is where .ci/run caches the kube-apiserver it builds.
func DefaultAPIServer() string {
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "ingot-ci", "kube", "kube-apiserver")
}

// FindAPIServer finds kube-apiserver: $INGOT_KUBE_APISERVER, the CI cache, or PATH.
func FindAPIServer() (string, error) {
	for _, p := range []string{os.Getenv("INGOT_KUBE_APISERVER"), DefaultAPIServer()} {
		if p == "" {
			continue
		}
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() { //nolint:gosec // G703: the binary the caller names
			return p, nil
		}
	}
	p, err := exec.LookPath("kube-apiserver")
	if err != nil {
		return "", fmt.Errorf("no kube-apiserver in $INGOT_KUBE_APISERVER, %s or PATH (.ci/run builds it with .ci/build-kube-apiserver.sh)", DefaultAPIServer())
	}
	return p, nil
}

// Start runs etcd and kube-apiserver on free loopback ports and waits until the API server is ready.
func Start(ctx context.Context, o Options) (*Cluster, error) {
	if o.APIServer == "" {
		p, err := FindAPIServer()
		if err != nil {
			return nil, err
		}
		o.APIServer = p
	}
	if o.Etcd == "" {
		p, err := exec.LookPath("etcd")
		if err != nil {
			return nil, fmt.Errorf("etcd is not installed (apt-get install etcd-server): %w", err)
		}
		o.Etcd = p
	}
	c := &Cluster{dir: o.Dir}
	ok := false
	defer func() {
		if !ok {
			c.Stop()
		}
	}()
	etcdURL, err := c.startEtcd(ctx, o.Etcd)
	if err != nil {
		return nil, err
	}
	if err := c.startAPIServer(ctx, o, etcdURL); err != nil {
		return nil, err
	}
	ok = true
	return c, nil
}

func (c *Cluster) startEtcd(ctx context.Context, bin string) (string, error) {
	var last error
	for range 3 {
		client, peer := freePort(), freePort()
		clientURL, peerURL := "http://"+client, "http://"+peer
		data := filepath.Join(c.dir, "etcd-"+strings.ReplaceAll(client, ":", "_"))
		p, err := c.start(bin, "etcd", "--name=default", "--data-dir="+data,
			"--listen-client-urls="+clientURL, "--advertise-client-urls="+clientURL,
			"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
			"--initial-cluster=default="+peerURL, "--logger=zap", "--log-level=error")
		if err != nil {
			return "", err
		}
		if last = waitHTTP(ctx, p, http.DefaultClient, clientURL+"/health", 30*time.Second); last == nil {
			return clientURL, nil
		}
		p.stop()
	}
	return "", fmt.Errorf("starting etcd: %w", last)
}

func (c *Cluster) startAPIServer(ctx context.Context, o Options, etcdURL string) error {
	certPEM, keyPEM, err := selfSigned()
	if err != nil {
		return err
	}
	c.CA = certPEM
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	saDER, _ := x509.MarshalPKCS8PrivateKey(saKey)
	saPubDER, _ := x509.MarshalPKIXPublicKey(saKey.Public())
	tok := make([]byte, 16)
	_, _ = rand.Read(tok)
	c.Token = hex.EncodeToString(tok)
	files := map[string][]byte{
		"serving.crt": certPEM, "serving.key": keyPEM,
		"sa.key":     pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: saDER}),
		"sa.pub":     pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: saPubDER}),
		"tokens.csv": fmt.Appendf(nil, "%s,ingot-test,ingot-test-uid,\"system:masters\"\n", c.Token),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(c.dir, name), data, 0o600); err != nil {
			return err
		}
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	tr.MaxIdleConnsPerHost = 64
	c.Client = &http.Client{Transport: &bearer{token: c.Token, next: tr}, Timeout: 60 * time.Second}
	var last error
	for range 3 {
		addr := freePort()
		_, port, _ := net.SplitHostPort(addr)
		args := append([]string{
			"--etcd-servers=" + etcdURL,
			"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port=" + port,
			"--tls-cert-file=" + filepath.Join(c.dir, "serving.crt"), "--tls-private-key-file=" + filepath.Join(c.dir, "serving.key"),
			"--service-account-key-file=" + filepath.Join(c.dir, "sa.pub"),
			"--service-account-signing-key-file=" + filepath.Join(c.dir, "sa.key"),
			"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
			"--token-auth-file=" + filepath.Join(c.dir, "tokens.csv"),
			"--authorization-mode=RBAC",
			"--service-cluster-ip-range=10.96.0.0/16",
			"--profiling=false",
			"--v=0",
		}, o.Args...)
		p, err := c.start(o.APIServer, "kube-apiserver", args...)
		if err != nil {
			return err
		}
		c.URL = "https://" + addr
		if last = waitHTTP(ctx, p, c.Client, c.URL+"/readyz", 3*time.Minute); last == nil {
			return nil
		}
		p.stop()
	}
	return fmt.Errorf("starting kube-apiserver: %w", last)
}

// selfSigned makes the API server's serving certificate, for 127.0.0.1 and localhost.
func selfSigned() (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
		DNSNames:    []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}

// Stop kills the API server and etcd.
func (c *Cluster) Stop() {
	for i := len(c.procs) - 1; i >= 0; i-- {
		c.procs[i].stop()
	}
	c.procs = nil
}

// PID is the named process's id ("etcd", "kube-apiserver"), 0 when not running.
func (c *Cluster) PID(name string) int {
	for _, p := range c.procs {
		if p.name == name {
			return p.cmd.Process.Pid
		}
	}
	return 0
}

// Log is the named process's output so far ("etcd", "kube-apiserver").
func (c *Cluster) Log(name string) string {
	for _, p := range c.procs {
		if p.name == name {
			return p.out.String()
		}
	}
	return ""
}

// proc is a child process with its output.
type proc struct {
	name   string
	cmd    *exec.Cmd
	out    *lockedBuffer
	exited chan struct{}
	err    error
	once   sync.Once
}

func (c *Cluster) start(bin, name string, args ...string) (*proc, error) {
	logf, err := os.Create(filepath.Join(c.dir, name+".log"))
	if err != nil {
		return nil, err
	}
	p := &proc{name: name, out: &lockedBuffer{file: logf}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, args...) //nolint:gosec // G204: the test's own etcd and kube-apiserver
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.Dir = c.dir
	// Killed with the test binary, even when it dies without cleaning up.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		_ = logf.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		_ = logf.Close()
		close(p.exited)
	}()
	c.procs = append(c.procs, p)
	return p, nil
}

func (p *proc) stop() {
	p.once.Do(func() {
		_ = p.cmd.Process.Kill() // it may have exited already
		<-p.exited
	})
}

// waitHTTP polls url until it answers 200, the process exits, or the time is up.
func waitHTTP(ctx context.Context, p *proc, client *http.Client, u string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	var last string
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited (%w): %s", p.name, p.err, tail(p.out.String(), 3000))
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		resp, err := client.Do(req)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%s: %s", resp.Status, body)
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s did not become ready within %s (last: %s): %s", p.name, limit, tail(last, 1000), tail(p.out.String(), 3000))
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// freePort asks the kernel for a free loopback port; another process may take it before it is used,
// so starting is retried.
func freePort() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "127.0.0.1:0"
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

type bearer struct {
	token string
	next  http.RoundTripper
}

func (b *bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

// lockedBuffer keeps a process's output in memory and in its log file.
type lockedBuffer struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	file *os.File
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() < 1<<20 {
		b.buf.Write(p)
	}
	return b.file.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Response is an API answer.
type Response struct {
	Code int
	Body []byte
}

// Status is the API's metav1.Status, for errors.
type Status struct {
	Message string `json:"message"`
	Reason  string `json:"reason"`
	Code    int    `json:"code"`
}

// Status decodes the body as a metav1.Status.
func (r Response) Status() Status {
	var s Status
	_ = json.Unmarshal(r.Body, &s) // a body that is not a Status leaves it empty
	return s
}

// OK reports a 2xx answer.
func (r Response) OK() bool { return r.Code/100 == 2 }

// Do sends a request with a JSON body (nil for none) to path (and query).
func (c *Cluster) Do(ctx context.Context, method, path string, query url.Values, body any) (Response, error) {
	var rd io.Reader
	if body != nil {
		var data []byte
		switch b := body.(type) {
		case []byte:
			data = b
		default:
			var err error
			if data, err = json.Marshal(b); err != nil {
				return Response{}, err
			}
		}
		rd = bytes.NewReader(data)
	}
	u := c.URL + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return Response{}, err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		ct := "application/json"
		if method == http.MethodPatch {
			ct = "application/strategic-merge-patch+json"
		}
		req.Header.Set("Content-Type", ct)
	}
	resp, err := c.Client.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return Response{Code: resp.StatusCode, Body: data}, err
}

// Create POSTs obj to its collection (see Path); dryRun asks for a server-side dry run.
func (c *Cluster) Create(ctx context.Context, obj map[string]any, dryRun bool) (Response, error) {
	p, err := Path(obj, false)
	if err != nil {
		return Response{}, err
	}
	var q url.Values
	if dryRun {
		q = url.Values{"dryRun": {"All"}}
	}
	return c.Do(ctx, http.MethodPost, p, q, obj)
}

// Namespace creates a namespace with its default service account (the ServiceAccount admission plugin
// refuses pods without it, and no controller manager runs to make it).
func (c *Cluster) Namespace(ctx context.Context, name string, labels map[string]string) error {
	ns := map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": name, "labels": labels}}
	if err := c.createOrExists(ctx, ns); err != nil {
		return fmt.Errorf("creating namespace %s: %w", name, err)
	}
	sa := map[string]any{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": map[string]any{"name": "default", "namespace": name}}
	if err := c.createOrExists(ctx, sa); err != nil {
		return fmt.Errorf("creating namespace %s's service account: %w", name, err)
	}
	return nil
}

func (c *Cluster) createOrExists(ctx context.Context, obj map[string]any) error {
	r, err := c.Create(ctx, obj, false)
	switch {
	case err != nil:
		return err
	case r.OK(), r.Code == http.StatusConflict:
		return nil
	}
	return fmt.Errorf("%d %s", r.Code, r.Body)
}

// resources are the REST paths of the kinds tests create: group/version, plural, namespaced.
var resources = map[string]struct {
	gv, plural string
	namespaced bool
}{
	"Namespace":                      {"v1", "namespaces", false},
	"ServiceAccount":                 {"v1", "serviceaccounts", true},
	"ConfigMap":                      {"v1", "configmaps", true},
	"Secret":                         {"v1", "secrets", true},
	"Service":                        {"v1", "services", true},
	"Pod":                            {"v1", "pods", true},
	"ReplicationController":          {"v1", "replicationcontrollers", true},
	"Deployment":                     {"apps/v1", "deployments", true},
	"ReplicaSet":                     {"apps/v1", "replicasets", true},
	"StatefulSet":                    {"apps/v1", "statefulsets", true},
	"DaemonSet":                      {"apps/v1", "daemonsets", true},
	"Job":                            {"batch/v1", "jobs", true},
	"CronJob":                        {"batch/v1", "cronjobs", true},
	"ValidatingWebhookConfiguration": {"admissionregistration.k8s.io/v1", "validatingwebhookconfigurations", false},
	"MutatingWebhookConfiguration":   {"admissionregistration.k8s.io/v1", "mutatingwebhookconfigurations", false},
}

// Path is obj's collection path (named: the object's own path).
func Path(obj map[string]any, named bool) (string, error) {
	kind, _ := obj["kind"].(string)
	r, ok := resources[kind]
	if !ok {
		return "", fmt.Errorf("kubetest: no REST path known for kind %q", kind)
	}
	meta, _ := obj["metadata"].(map[string]any)
	ns, _ := meta["namespace"].(string)
	name, _ := meta["name"].(string)
	p := "/api/" + r.gv
	if strings.Contains(r.gv, "/") {
		p = "/apis/" + r.gv
	}
	if r.namespaced {
		if ns == "" {
			ns = "default"
		}
		p += "/namespaces/" + ns
	}
	p += "/" + r.plural
	if named {
		if name == "" {
			return "", errors.New("kubetest: the object has no name")
		}
		p += "/" + name
	}
	return p, nil
}
