package imageref

import (
	"testing"

	"github.com/ingot-build/ingot/internal/regtest"
)

// inflaters runs fn once with every gzip layer inflated in this process and once through igzip,
// which .ci/run installs (regtest.Peer: skipped without it, a failure under CI).
func inflaters(t *testing.T, fn func(t *testing.T)) {
	t.Helper()
	for _, tc := range []struct {
		name string
		min  int64
	}{{"go", 1 << 62}, {"igzip", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.min == 0 {
				regtest.Peer(t, "igzip")
			}
			old := gzipExternalMin
			gzipExternalMin = tc.min
			t.Cleanup(func() { gzipExternalMin = old })
			fn(t)
		})
	}
}
