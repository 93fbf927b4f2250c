package regtest

import (
	"os"
	"os/exec"
	"testing"
)

// Peer returns the path of an external tool. Without it the test is skipped, except when CI is set:
// .ci/run installs every peer, so there a missing one is a failure.
func Peer(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		missing(t, "%s is not installed: %v", name, err)
	}
	return p
}

// missing skips the test, or fails it under CI.
func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf(format+" (CI is set, so .ci/run should have provided it)", args...)
	}
	t.Skipf(format, args...)
}

// Root skips a test that needs root (runc, unpacking with owners), except under CI, which runs the
// tests as root: there it is a failure.
func Root(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		missing(t, "%s needs root, and this is uid %d", why, os.Geteuid())
	}
}
