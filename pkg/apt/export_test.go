package apt

import (
	"testing"

	"github.com/ingot-build/ingot/internal/regtest"
)

// Decoders runs fn once with every index decompressed in this process and once with every compressed
// index through its program (igzip, xz), which .ci/run installs (skipped without them, a failure
// under CI).
func Decoders(t *testing.T, fn func(t *testing.T)) {
	t.Helper()
	regtest.Decoders(t, &indexExternalMin, []string{"igzip", "xz"}, fn)
}
