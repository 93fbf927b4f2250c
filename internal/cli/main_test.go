package cli

import (
	"fmt"
	"os"
	"testing"
)

// TestMain points the default data directory at a temporary one, so a test that forgets --data-dir
// writes there and never into the home directory of whoever runs the tests.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ingot-cli-test-data-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("INGOT_DATA_DIR", dir) //nolint:errcheck // cannot fail for a valid name
	code := m.Run()
	_ = os.RemoveAll(dir) // a temporary directory; leaving it behind only costs space
	os.Exit(code)
}
