package regtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
)

// ErrOffline is returned for every connection or request to a host that is not loopback.
var ErrOffline = errors.New("regtest: refused to reach a non-loopback host")

// Offline holds a test to loopback. Its RoundTrip and DialContext refuse any host outside
// 127.0.0.0/8, ::1 and localhost without dialling it, and record what was refused, so a test can
// assert that nothing tried to reach the internet. Safe for concurrent use.
type Offline struct {
	base http.RoundTripper

	mu      sync.Mutex
	refused []string
}

// OfflineTransport returns a transport that sends loopback requests through base and refuses the
// rest. With a nil base it uses a clone of http.DefaultTransport that ignores proxy variables and
// dials through the Offline's own DialContext, so nothing slips past it at the socket level either.
func OfflineTransport(base http.RoundTripper) *Offline {
	o := &Offline{}
	if base == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.Proxy = nil
		tr.DialContext = o.DialContext
		base = tr
	}
	o.base = base
	return o
}

// RoundTrip implements http.RoundTripper.
func (o *Offline) RoundTrip(req *http.Request) (*http.Response, error) {
	if !IsLoopback(req.URL.Hostname()) {
		o.refuse(req.Method + " " + req.URL.Redacted())
		if req.Body != nil {
			_ = req.Body.Close() // RoundTrip must close the body even on error
		}
		return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL.Redacted(), ErrOffline)
	}
	return o.base.RoundTrip(req)
}

// DialContext has net.Dialer's signature: it dials loopback addresses and refuses the rest.
func (o *Offline) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		host = address
	}
	if !IsLoopback(host) {
		o.refuse("dial " + network + " " + address)
		return nil, fmt.Errorf("dial %s %s: %w", network, address, ErrOffline)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, address)
}

// Refused lists what was refused, in order: "METHOD URL" for requests, "dial NETWORK ADDR" for
// connections, "proxy ..." for what a child process sent to ProxyEnv's proxy.
func (o *Offline) Refused() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.refused)
}

func (o *Offline) refuse(what string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.refused = append(o.refused, what)
}

// ProxyEnv starts a loopback HTTP proxy, stopped when the test ends, that refuses (403) and records
// every request it is asked to forward, and returns the environment that points a child process at
// it. Go programs such as cosign never proxy loopback hosts, so the registry under test still works
// while any attempt to reach Rekor, Fulcio or a TUF mirror fails at once and shows up in Refused.
func (o *Offline) ProxyEnv(t testing.TB) []string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target := r.URL.String()
		if r.Method == http.MethodConnect {
			target = r.Host
		}
		o.refuse("proxy " + r.Method + " " + target)
		http.Error(w, "regtest: offline", http.StatusForbidden)
	}))
	t.Cleanup(srv.Close)
	return []string{
		"HTTP_PROXY=" + srv.URL, "HTTPS_PROXY=" + srv.URL,
		"http_proxy=" + srv.URL, "https_proxy=" + srv.URL,
		"NO_PROXY=127.0.0.1,localhost,::1", "no_proxy=127.0.0.1,localhost,::1",
	}
}

// IsLoopback reports whether host (a name or an IP, without port) is localhost or in 127.0.0.0/8 or ::1.
func IsLoopback(host string) bool {
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	if i := strings.IndexByte(host, '%'); i >= 0 { // zone of a link-local address
		host = host[:i]
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
