package regtest

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestIsLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"127.0.0.1":             true,
		"127.1.2.3":             true,
		"::1":                   true,
		"[::1]":                 true,
		"localhost":             true,
		"LocalHost.":            true,
		"":                      false,
		"0.0.0.0":               false,
		"10.0.0.1":              false,
		"192.168.1.1":           false,
		"::ffff:8.8.8.8":        false,
		"example.com":           false,
		"localhost.example.com": false,
		"evil.localhost":        false,
		"127.0.0.1.nip.io":      false,
	} {
		if got := IsLoopback(host); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", host, got, want)
		}
	}
}

// roundTripFunc lets the test see whether the base transport was reached.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestOfflineRefusesWithoutDialling(t *testing.T) {
	var reached []string
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		reached = append(reached, r.URL.Host)
		return http.DefaultTransport.RoundTrip(r)
	})
	off := OfflineTransport(base)
	client := &http.Client{Transport: off}
	host := Registry(t)

	for _, u := range []string{"https://rekor.sigstore.dev/api/v1/log", "https://tuf-repo-cdn.sigstore.dev/root.json", "http://10.1.2.3:5000/v2/"} {
		resp, err := client.Get(u)
		if err == nil {
			_ = resp.Body.Close()
			t.Errorf("GET %s succeeded", u)
		} else if !errors.Is(err, ErrOffline) {
			t.Errorf("GET %s: %v, want ErrOffline", u, err)
		}
	}
	resp, err := client.Get("http://" + host + "/v2/")
	if err != nil {
		t.Fatalf("loopback registry refused: %v", err)
	}
	_ = resp.Body.Close()

	if len(reached) != 1 || reached[0] != host {
		t.Errorf("base transport reached %v, want only the loopback registry %s", reached, host)
	}
	refused := off.Refused()
	if len(refused) != 3 || !strings.Contains(refused[0], "rekor.sigstore.dev") || !strings.HasPrefix(refused[2], "GET http://10.1.2.3:5000") {
		t.Errorf("Refused() = %q", refused)
	}
}

func TestOfflineDefaultTransportDialsOnlyLoopback(t *testing.T) {
	off := OfflineTransport(nil)
	host := Registry(t)
	if _, err := off.DialContext(t.Context(), "tcp", "192.0.2.1:443"); !errors.Is(err, ErrOffline) {
		t.Errorf("dial 192.0.2.1: %v, want ErrOffline", err)
	}
	conn, err := off.DialContext(t.Context(), "tcp", host)
	if err != nil {
		t.Fatalf("dial loopback registry: %v", err)
	}
	_ = conn.Close()
	client := &http.Client{Transport: off}
	resp, err := client.Get("http://" + host + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if r := off.Refused(); len(r) != 1 || r[0] != "dial tcp 192.0.2.1:443" {
		t.Errorf("Refused() = %q", r)
	}
}

// ProxyEnv's proxy answers every forwarded request with 403 and records it.
func TestOfflineProxyEnv(t *testing.T) {
	off := OfflineTransport(nil)
	env := off.ProxyEnv(t)
	var proxy string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "HTTP_PROXY="); ok {
			proxy = v
		}
	}
	pu, err := url.Parse(proxy)
	if err != nil || !IsLoopback(pu.Hostname()) {
		t.Fatalf("proxy %q is not a loopback URL", proxy)
	}
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(pu)}}
	resp, err := client.Get("http://fulcio.example/api/v2/signingCert")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("proxied request: %d, want 403", resp.StatusCode)
	}
	if _, err := client.Get("https://rekor.example/"); err == nil {
		t.Error("CONNECT through the proxy succeeded")
	}
	want := []string{"proxy GET http://fulcio.example/api/v2/signingCert", "proxy CONNECT rekor.example:443"}
	if got := off.Refused(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Refused() = %q, want %q", got, want)
	}
}
