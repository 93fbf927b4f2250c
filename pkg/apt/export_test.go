package apt

import (
	"testing"

	"github.com/ingot-build/ingot/internal/regtest"
)

// Decoders runs fn once with every index decompressed in this process and once with every compressed
// index through its program (igzip, xz), which .ci/run installs (regtest.Peer: skipped without them,
// a failure under CI).
func Decoders(t *testing.T, fn func(t *testing.T)) {
	t.Helper()
	for _, tc := range []struct {
		name string
		min  int64
	}{{"go", 1 << 62}, {"programs", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.min == 0 {
				regtest.Peer(t, "igzip")
				regtest.Peer(t, "xz")
			}
			old := indexExternalMin
			indexExternalMin = tc.min
			t.Cleanup(func() { indexExternalMin = old })
			fn(t)
		})
	}
}
