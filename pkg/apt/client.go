package apt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// Sentinel errors; every error this package returns about a repository wraps one of them and names the
// URL or file concerned.
var (
	// ErrSignature: the Release is unsigned, garbled, or not signed by a key in the source's keyrings.
	ErrSignature = errors.New("apt: Release signature not valid")
	// ErrExpired: the signed Release's Valid-Until is in the past, so it may be a replayed old one.
	ErrExpired = errors.New("apt: Release expired")
	// ErrWrongSuite: the signed Release describes another suite than the one asked for.
	ErrWrongSuite = errors.New("apt: Release is for another suite")
	// ErrMalformed: the signed Release cannot be parsed.
	ErrMalformed = errors.New("apt: malformed Release")
	// ErrHashMismatch: downloaded or cached bytes differ in size or SHA-256 from what was signed or locked.
	ErrHashMismatch = errors.New("apt: size or sha256 mismatch")
	// ErrNotFound: the server answered 404 or 410, or the Release does not list the index.
	ErrNotFound = errors.New("apt: not found")
	// ErrTooLarge: a download or a decompressed index exceeds its limit.
	ErrTooLarge = errors.New("apt: too large")
	// ErrSource: a Source, or a line of the host's apt sources, cannot be used.
	ErrSource = errors.New("apt: invalid source")
)

// StatusError is an HTTP answer other than 200. Only 404 and 410 match ErrNotFound: a 500 or a 429 says
// nothing about whether the file exists.
type StatusError struct {
	URL        string
	StatusCode int
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("apt: GET %s: %d %s", e.URL, e.StatusCode, http.StatusText(e.StatusCode))
}

// Is makes errors.Is(err, ErrNotFound) true for 404 and 410.
func (e *StatusError) Is(target error) bool {
	return target == ErrNotFound && (e.StatusCode == http.StatusNotFound || e.StatusCode == http.StatusGone)
}

// Limits on what a repository can make us read.
const (
	maxReleaseSize = 64 << 20 // InRelease, Release and Release.gpg; Debian's is ~150 KiB
	maxIndexSize   = 1 << 30  // default Client.MaxIndexSize
)

// Client talks to Debian repositories. The zero value is ready to use; a Client must not be copied
// after first use.
type Client struct {
	// HTTP is the client for http(s) and file URLs. Nil: a client of its own with timeouts, proxies from
	// the environment, and a transport that also serves file:// URLs.
	HTTP *http.Client
	// Now is the clock for Valid-Until and key expiry. Nil: time.Now.
	Now func() time.Time
	// Cache keeps downloaded indexes by SHA-256 so that a second run does not fetch them again. Nil: no
	// caching.
	Cache *Cache
	// Texts keeps the decompressed text of each index read, by its SHA-256, so that another lock
	// against the same repository state reads no index. Nil: every lock decompresses.
	Texts *TextCache
	// MaxIndexSize caps the decompressed size of a Packages index, against archive bombs. 0: 1 GiB.
	MaxIndexSize int64

	defaultHTTP lazyHTTP
}

type lazyHTTP struct {
	once sync.Once
	c    *http.Client
}

func (l *lazyHTTP) get() *http.Client {
	l.once.Do(func() { l.c = newHTTPClient() })
	return l.c
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return c.defaultHTTP.get()
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// newHTTPClient builds the default client. It has no overall timeout because a .deb can be large; the
// caller's context bounds the whole, and the transport's timeouts catch a peer that stops answering.
// http.DefaultTransport is left alone: registering file:// on it would change every client in the process.
func newHTTPClient() *http.Client {
	t := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          32,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		ExpectContinueTimeout: time.Second,
		// Indexes and packages are already compressed; transparent gzip decoding of a misconfigured
		// server's "Content-Encoding: gzip" would only break their checksums.
		DisableCompression: true,
	}
	// file:// URLs name local repositories by absolute path, so the transport must see the whole
	// filesystem; the user chose the URL in their spec, nothing remote does.
	t.RegisterProtocol("file", http.NewFileTransport(http.Dir("/"))) //nolint:gosec // G111: see above
	return &http.Client{Transport: t}
}

// open GETs url and returns the body of a 200 answer; other statuses become *StatusError.
func open(ctx context.Context, hc *http.Client, url string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("apt: GET %s: %w", url, err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("apt: GET %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		_ = resp.Body.Close() // the status is the error to report
		return nil, &StatusError{URL: url, StatusCode: resp.StatusCode}
	}
	return resp.Body, nil
}

// fetch GETs url and reads at most limit bytes of it. A longer body is cut off and reported as
// ErrTooLarge rather than read to its end.
func fetch(ctx context.Context, hc *http.Client, url string, limit int64) ([]byte, error) {
	body, err := open(ctx, hc, url)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("apt: reading %s: %w", url, err)
	}
	if n > limit {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrTooLarge, url, limit)
	}
	return buf.Bytes(), nil
}
