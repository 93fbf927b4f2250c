package fault

import (
	"errors"
	"fmt"
)

// Kind is the class of an error. Kinds are errors themselves, so errors.Is(err, fault.Invalid) asks
// whether err is of that kind.
type Kind uint8

// The kinds. Internal is the zero value: anything not classified.
const (
	// Internal: the work failed for a reason the caller did not cause (I/O, a bug).
	Internal Kind = iota
	// Invalid: the input is wrong (flags, spec, lock, a file given as input that cannot be read as
	// what it claims to be, a reference that does not parse). CLI exit 2, HTTP 400.
	Invalid
	// NotFound: what was asked for does not exist. HTTP 404.
	NotFound
	// Integrity: content does not match the digest or signature that names it. CLI exit 1, HTTP 500.
	Integrity
	// Unavailable: a service the work depends on failed (registry, mirror, database). HTTP 503.
	Unavailable
	// Conflict: the request contradicts the current state. HTTP 409.
	Conflict
	// Unauthenticated: the caller did not say who it is. HTTP 401.
	Unauthenticated
	// Forbidden: the caller may not do this. HTTP 403.
	Forbidden
)

var names = [...]string{"internal error", "invalid input", "not found", "integrity error", "unavailable", "conflict", "unauthenticated", "forbidden"}

func (k Kind) Error() string {
	if int(k) < len(names) {
		return names[k]
	}
	return fmt.Sprintf("fault.Kind(%d)", uint8(k))
}

// sentinel is a package's named error that belongs to a kind.
type sentinel struct {
	kind Kind
	msg  string
}

func (s *sentinel) Error() string { return s.msg }

// Is makes errors.Is(err, kind) true for the sentinel's kind.
func (s *sentinel) Is(target error) bool {
	k, ok := target.(Kind)
	return ok && k == s.kind
}

// New returns a sentinel error of kind k: errors.Is(err, k) holds for it and for every error that
// wraps it, and errors.Is(err, sentinel) still tells the sentinels apart.
func New(k Kind, msg string) error { return &sentinel{kind: k, msg: msg} }

// wrapped marks an existing error with a kind without changing its message.
type wrapped struct {
	kind Kind
	err  error
}

func (w *wrapped) Error() string { return w.err.Error() }
func (w *wrapped) Unwrap() error { return w.err }
func (w *wrapped) Is(target error) bool {
	k, ok := target.(Kind)
	return ok && k == w.kind
}

// Wrap marks err as of kind k (nil stays nil). The message is err's own.
func Wrap(k Kind, err error) error {
	if err == nil {
		return nil
	}
	return &wrapped{kind: k, err: err}
}

// Errorf formats an error of kind k; %w wraps as fmt.Errorf does.
func Errorf(k Kind, format string, args ...any) error {
	return &wrapped{kind: k, err: fmt.Errorf(format, args...)}
}

// precedence orders the kinds from the most specific to the least: an error that is both damaged
// content and a registry failure is reported as damaged content.
var precedence = [...]Kind{Integrity, Forbidden, Unauthenticated, Invalid, NotFound, Conflict, Unavailable}

// Of returns the kind of err: the first kind in precedence order that err is, else Internal.
func Of(err error) Kind {
	if err == nil {
		return Internal
	}
	for _, k := range precedence {
		if errors.Is(err, k) {
			return k
		}
	}
	return Internal
}
