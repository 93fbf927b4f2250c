package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/ingot-build/ingot/pkg/fault"
)

// Errors of the HTTP layer itself; the catalog's carry their own fault kinds.
var (
	// ErrUnauthenticated: no bearer token, or one the catalog does not know (or revoked).
	ErrUnauthenticated = fault.New(fault.Unauthenticated, "server: unauthenticated")
	// ErrForbidden: the token's scope does not allow the request.
	ErrForbidden = fault.New(fault.Forbidden, "server: forbidden")
	// ErrNotWired: the route needs a hook this server was not given (rebuilds and patch SLAs, until
	// ingot serve runs pkg/rebuild's workers).
	ErrNotWired = errors.New("server: not available in this server")

	errUnsupportedMedia = fault.New(fault.Invalid, "server: unsupported media type")
	errNoRoute          = fault.New(fault.NotFound, "server: no such route")
)

// methodError is a known path asked with a method it does not take.
type methodError struct{ allow []string }

func (e methodError) Error() string {
	return "method not allowed: this path takes " + strings.Join(e.allow, ", ")
}

func methodNotAllowed(allow []string) handler {
	return func(w http.ResponseWriter, _ *http.Request) error {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		return methodError{allow: allow}
	}
}

// Error is the body of every error response.
type Error struct {
	// Error says what is wrong, for people.
	Error string `json:"error"`
	// Code is the kind of error, for programs: invalid, not_found, conflict, unauthenticated,
	// forbidden, too_large, unsupported_media_type, method_not_allowed, unavailable,
	// not_implemented or internal.
	Code string `json:"code"`
}

// statusOf is the one mapping from errors to HTTP statuses: fault kinds (Invalid 400, NotFound
// 404, Conflict 409, Unauthenticated 401, Forbidden 403, Unavailable 503, anything else 500), and
// the few conditions HTTP has its own status for.
func statusOf(err error) (int, string) {
	var tooLarge *http.MaxBytesError
	var method methodError
	switch {
	case errors.As(err, &tooLarge):
		return http.StatusRequestEntityTooLarge, "too_large"
	case errors.Is(err, errUnsupportedMedia):
		return http.StatusUnsupportedMediaType, "unsupported_media_type"
	case errors.As(err, &method):
		return http.StatusMethodNotAllowed, "method_not_allowed"
	case errors.Is(err, ErrNotWired):
		return http.StatusNotImplemented, "not_implemented"
	}
	switch fault.Of(err) {
	case fault.Invalid:
		return http.StatusBadRequest, "invalid"
	case fault.NotFound:
		return http.StatusNotFound, "not_found"
	case fault.Conflict:
		return http.StatusConflict, "conflict"
	case fault.Unauthenticated:
		return http.StatusUnauthorized, "unauthenticated"
	case fault.Forbidden:
		return http.StatusForbidden, "forbidden"
	case fault.Unavailable:
		return http.StatusServiceUnavailable, "unavailable"
	}
	return http.StatusInternalServerError, "internal"
}

// writeError answers with err's status and a JSON Error. The messages of bad requests go to the
// client as they are (they say what to fix); those of failures stay in the log, since they may name
// the database's host or a file of the server.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, code := statusOf(err)
	msg := err.Error()
	switch {
	case status == http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="ingot"`)
	case status == http.StatusServiceUnavailable:
		msg = "the catalog is unavailable: try again later"
	case status >= 500 && status != http.StatusNotImplemented:
		msg = "internal error: see the server's log"
	}
	if status >= 500 {
		infoOf(r.Context()).err = err
	}
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		return // the client went away: nobody reads an answer
	}
	writeJSON(w, status, Error{Error: msg, Code: code})
}

// writeJSON answers with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	// The status is sent: an error now (the client left) can only be logged.
	_ = json.NewEncoder(w).Encode(v)
}

// invalidf is a bad request, in the fault kind the one mapping knows.
func invalidf(format string, args ...any) error {
	return fault.Errorf(fault.Invalid, format, args...)
}

// notFoundf is a missing resource.
func notFoundf(format string, args ...any) error {
	return fault.Errorf(fault.NotFound, format, args...)
}

// notWired says which hook a route lacks.
func notWired(what string) error {
	return fmt.Errorf("%w: %s needs the rebuild workers, which this ingot serve does not run yet", ErrNotWired, what)
}

// logAttrs are an error's attributes for the request's log line.
func logAttrs(err error) []slog.Attr {
	if err == nil {
		return nil
	}
	return []slog.Attr{slog.String("error", err.Error())}
}
