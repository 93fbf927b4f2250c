package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/fault"
)

// Exit codes a CI job can act on.
const (
	ExitOK      = 0
	ExitFailure = 1 // the work failed: network, verification, build
	ExitUsage   = 2 // the input is wrong: flags, spec, lock
	// ExitFindings means the command ran and found what --fail-on asked to fail on, or (scan
	// --require-data) could not check packages it was asked to, or (policy test, admission review)
	// an image would be denied.
	ExitFindings = 3
)

// FindingsError is returned by evidence commands when findings reach the --fail-on severity.
type FindingsError struct {
	Count     int
	Threshold evidence.Severity
	// Unknown of them are of unknown severity, counted at UnknownAs.
	Unknown   int
	UnknownAs evidence.Severity
}

func (e *FindingsError) Error() string {
	msg := fmt.Sprintf("%d finding(s) at or above %s", e.Count, e.Threshold)
	if e.Unknown > 0 && e.UnknownAs != evidence.SeverityUnknown {
		msg += fmt.Sprintf(" (%d of unknown severity, counted as %s)", e.Unknown, e.UnknownAs)
	}
	return msg
}

// UncheckedError is returned by scan --require-data when packages of the image were not checked
// against any vulnerability data. Like findings at --fail-on, it is the gate's verdict on a scan that
// ran (exit code 3), not a failure to run it.
type UncheckedError struct{ Unchecked []evidence.Coverage }

func (e *UncheckedError) Error() string {
	var parts []string
	for _, c := range e.Unchecked {
		parts = append(parts, c.String())
	}
	return "not checked, and --require-data asks for every ecosystem to be: " + strings.Join(parts, "; ")
}

// usageError is bad input found by the CLI itself (flags, arguments): exit code 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// Is makes a usage error of kind fault.Invalid.
func (e usageError) Is(target error) bool { return target == fault.Invalid }

// usageArgs makes a wrong number of arguments a usage error (exit code 2).
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}

func usageErrorf(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// ExitCode maps an error returned by a command to the process exit code: findings 3, bad input of any
// package (fault.Invalid) 2, anything else 1.
func ExitCode(err error) int {
	var fe *FindingsError
	var ue *UncheckedError
	var de *deniedError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &fe), errors.As(err, &ue), errors.As(err, &de):
		return ExitFindings
	case fault.Of(err) == fault.Invalid:
		return ExitUsage
	default:
		return ExitFailure
	}
}
