package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ingot-build/ingot/pkg/catalog"
)

// decodeJSON reads the request body, at most limit bytes of one JSON value, into v, strictly: the
// content type must be JSON, unknown fields and trailing data are refused. An empty body is refused
// unless optional (then v keeps its zero value).
func decodeJSON(w http.ResponseWriter, r *http.Request, limit int64, optional bool, v any) error {
	if r.ContentLength == 0 {
		if optional {
			return nil
		}
		return invalidf("the request body is empty: send a JSON object")
	}
	if ct := r.Header.Get("Content-Type"); ct != "" || !optional {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return fmt.Errorf("%w: Content-Type %q: send application/json", errUnsupportedMedia, ct)
		}
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return fmt.Errorf("the request body is larger than %d bytes: %w", limit, err)
	case errors.Is(err, io.EOF):
		if optional {
			return nil
		}
		return invalidf("the request body is empty: send a JSON object")
	case err != nil:
		return invalidf("the request body is not what this route takes: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if err := dec.Decode(&json.RawMessage{}); !errors.Is(err, io.EOF) {
		if errors.As(err, &tooLarge) {
			return fmt.Errorf("the request body is larger than %d bytes: %w", limit, err)
		}
		return invalidf("the request body holds more than one JSON value")
	}
	return nil
}

// query is a request's query parameters, checked against the ones its route takes.
type query struct{ v url.Values }

// queryOf parses the query string and refuses parameters the route does not take, so that a typo
// ("stauts=revoked") is an error instead of a filter silently not applied.
func queryOf(r *http.Request, allowed ...string) (query, error) {
	v, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return query{}, invalidf("query string: %v", err)
	}
	for k := range v {
		if !slices.Contains(allowed, k) {
			if len(allowed) == 0 {
				return query{}, invalidf("unknown query parameter %q: this route takes none", k)
			}
			return query{}, invalidf("unknown query parameter %q: this route takes %s", k, strings.Join(allowed, ", "))
		}
	}
	return query{v: v}, nil
}

// str is a parameter given at most once ("" when absent).
func (q query) str(name string) (string, error) {
	vs := q.v[name]
	if len(vs) > 1 {
		return "", invalidf("query parameter %s is given %d times: give it once", name, len(vs))
	}
	if len(vs) == 0 {
		return "", nil
	}
	return vs[0], nil
}

// required is a parameter that must be given, not blank.
func (q query) required(name, what string) (string, error) {
	s, err := q.str(name)
	if err == nil && strings.TrimSpace(s) == "" {
		err = invalidf("query parameter %s is required: %s", name, what)
	}
	return s, err
}

// int is an integer parameter within [lo, hi], def when absent.
func (q query) int(name string, def, lo, hi int64) (int64, error) {
	s, err := q.str(name)
	if err != nil || s == "" {
		return def, err
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, invalidf("query parameter %s=%q: want a whole number from %d to %d", name, s, lo, hi)
	}
	return n, nil
}

// bool is true or false, false when absent.
func (q query) bool(name string) (bool, error) {
	s, err := q.str(name)
	if err != nil || s == "" {
		return false, err
	}
	switch s {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, invalidf("query parameter %s=%q: want true or false", name, s)
}

// duration is a wait, in Go's syntax ("30s", "1m") or whole seconds, within [0, hi].
func (q query) duration(name string, hi time.Duration) (time.Duration, error) {
	s, err := q.str(name)
	if err != nil || s == "" {
		return 0, err
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		n, nerr := strconv.ParseInt(s, 10, 64)
		if nerr != nil || n > int64(hi/time.Second) {
			return 0, invalidf("query parameter %s=%q: want a duration such as 30s, at most %s", name, s, hi)
		}
		d = time.Duration(n) * time.Second
	}
	if d < 0 || d > hi {
		return 0, invalidf("query parameter %s=%q: want a duration from 0s to %s", name, s, hi)
	}
	return d, nil
}

// statuses reads status filters: repeated, or comma-separated, as the CLI's --status.
func (q query) statuses() ([]catalog.Status, error) {
	var out []catalog.Status
	for _, v := range q.v["status"] {
		for _, part := range strings.Split(v, ",") {
			if part = strings.TrimSpace(part); part == "" {
				continue
			}
			st, err := catalog.ParseStatus(part)
			if err != nil {
				return nil, err
			}
			out = append(out, st)
		}
	}
	return out, nil
}

// refOf is the version a route's path names: {image} and {version} (empty for an image's routes).
func refOf(r *http.Request) (catalog.Ref, error) {
	ref := catalog.Ref{Image: r.PathValue("image"), Version: r.PathValue("version")}
	if err := catalog.ValidName(ref.Image); err != nil {
		return ref, err
	}
	if r.Pattern != "" && strings.Contains(r.Pattern, "{version}") && strings.TrimSpace(ref.Version) == "" {
		return ref, invalidf("empty version: name a tag such as 1.2.3-r4, a release line, latest or a digest")
	}
	return ref, nil
}
