package regtest

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Kind is the part of the registry API a request addresses.
type Kind string

// Kinds of registry request, from the path of the distribution API.
const (
	KindPing      Kind = "ping"      // /v2/
	KindManifest  Kind = "manifest"  // /v2/NAME/manifests/REF
	KindBlob      Kind = "blob"      // /v2/NAME/blobs/DIGEST
	KindUpload    Kind = "upload"    // /v2/NAME/blobs/uploads/...
	KindTags      Kind = "tags"      // /v2/NAME/tags/list
	KindReferrers Kind = "referrers" // /v2/NAME/referrers/DIGEST
	KindCatalog   Kind = "catalog"   // /v2/_catalog
	KindOther     Kind = "other"
)

// KindOf classifies a registry request path.
func KindOf(path string) Kind {
	p := strings.TrimSuffix(path, "/")
	switch {
	case p == "/v2":
		return KindPing
	case p == "/v2/_catalog":
		return KindCatalog
	case !strings.HasPrefix(p, "/v2/"):
		return KindOther
	case strings.Contains(p, "/blobs/uploads"):
		return KindUpload
	case strings.HasSuffix(p, "/tags/list"):
		return KindTags
	}
	elems := strings.Split(p, "/")
	if len(elems) < 5 { // "", "v2", NAME..., KIND, REF
		return KindOther
	}
	switch elems[len(elems)-2] {
	case "manifests":
		return KindManifest
	case "blobs":
		return KindBlob
	case "referrers":
		return KindReferrers
	}
	return KindOther
}

// Failure is how a Flaky answers a request it fails.
type Failure struct {
	// Status is the HTTP status to answer with (429, 500, 503, ...); 0 drops the connection without
	// an answer, as a registry that crashes does.
	Status int
	// RetryAfter, when set, is sent as the Retry-After header (seconds), as throttling registries do.
	RetryAfter string
}

// Request is one request a Flaky saw.
type Request struct {
	Method string
	Path   string
	Kind   Kind
	// Status is what the client got: the failure's status, 0 for a dropped connection, or the
	// registry's own status.
	Status int
	Failed bool
}

// Flaky wraps a registry handler and fails requests when told to: all of them from now on, or every
// one after some more have succeeded, or every one after the next manifest PUT — a registry that dies
// midway through a push — until Heal. It records every request, so a test can assert what a client
// sent, e.g. that a retried push did not PUT the same manifest twice. The zero value passes every
// request through; it is safe for concurrent use.
type Flaky struct {
	mu       sync.Mutex
	failing  bool
	failure  Failure
	after    int  // requests still to pass before failing; -1 when not counting
	afterPut bool // start failing after the next successful manifest PUT
	requests []Request
}

// Wrap returns next wrapped by f; pass it to WithHandler or Front.
func (f *Flaky) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.serve(next, w, r)
	})
}

// FailAll fails every request from now on with fl.
func (f *Flaky) FailAll(fl Failure) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failing, f.failure, f.after, f.afterPut = true, fl, -1, false
}

// FailAfter lets n more requests through, then fails every one with fl.
func (f *Flaky) FailAfter(n int, fl Failure) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failing, f.failure, f.after, f.afterPut = n <= 0, fl, n, false
	if n <= 0 {
		f.after = -1
	}
}

// FailAfterManifestPut lets requests through up to and including the next manifest PUT that the
// registry accepts, then fails every one with fl: the first object of a push lands, the rest do not.
func (f *Flaky) FailAfterManifestPut(fl Failure) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failing, f.failure, f.after, f.afterPut = false, fl, -1, true
}

// Heal lets every request through again. Recorded requests are kept.
func (f *Flaky) Heal() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failing, f.after, f.afterPut = false, -1, false
}

// Requests returns every request seen so far, in arrival order.
func (f *Flaky) Requests() []Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

// Count is how many requests of this method and kind reached the registry and got a success
// (2xx) answer from it; failed ones are not counted.
func (f *Flaky) Count(method string, kind Kind) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, r := range f.requests {
		if r.Method == method && r.Kind == kind && !r.Failed && r.Status/100 == 2 {
			n++
		}
	}
	return n
}

// Failed is how many requests the Flaky failed.
func (f *Flaky) Failed() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, r := range f.requests {
		if r.Failed {
			n++
		}
	}
	return n
}

// decide says whether r fails now, and with what; it counts r against FailAfter.
func (f *Flaky) decide() (bool, Failure) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failing {
		return true, f.failure
	}
	if f.after > 0 {
		f.after--
		if f.after == 0 {
			f.failing, f.after = true, -1
		}
	}
	return false, Failure{}
}

func (f *Flaky) record(r Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, r)
	if f.afterPut && !r.Failed && r.Method == http.MethodPut && r.Kind == KindManifest && r.Status/100 == 2 {
		f.failing, f.afterPut = true, false
	}
}

func (f *Flaky) serve(next http.Handler, w http.ResponseWriter, r *http.Request) {
	req := Request{Method: r.Method, Path: r.URL.Path, Kind: KindOf(r.URL.Path)}
	if fail, fl := f.decide(); fail {
		req.Failed, req.Status = true, fl.Status
		f.record(req)
		if fl.Status == 0 {
			// The server closes the connection without writing a response.
			panic(http.ErrAbortHandler)
		}
		if fl.RetryAfter != "" {
			w.Header().Set("Retry-After", fl.RetryAfter)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(fl.Status)
		_, _ = w.Write([]byte(`{"errors":[{"code":"UNAVAILABLE","message":"regtest: injected failure ` + strconv.Itoa(fl.Status) + `"}]}`))
		return
	}
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	next.ServeHTTP(sw, r)
	req.Status = sw.status
	f.record(req)
}

// statusWriter remembers the status the wrapped handler answered with.
type statusWriter struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (s *statusWriter) WriteHeader(code int) {
	if !s.wroteHeader {
		s.status, s.wroteHeader = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(p []byte) (int, error) {
	s.wroteHeader = true
	return s.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the underlying writer (Flush, deadlines).
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
