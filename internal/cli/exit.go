package cli

import (
	"errors"
	"fmt"

	"github.com/ingot-build/ingot/pkg/lock"
	"github.com/ingot-build/ingot/pkg/spec"
)

// Exit codes a CI job can act on.
const (
	ExitOK      = 0
	ExitFailure = 1 // the work failed: network, verification, build
	ExitUsage   = 2 // the input is wrong: flags, spec, lock
)

type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// ExitCode maps an error returned by a command to the process exit code.
func ExitCode(err error) int {
	var ue usageError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ue), errors.Is(err, spec.ErrInvalid), errors.Is(err, lock.ErrStale), errors.Is(err, lock.ErrMalformed):
		return ExitUsage
	default:
		return ExitFailure
	}
}
