package imageref

import (
	"testing"

	"github.com/ingot-build/ingot/internal/regtest"
)

// inflaters runs fn once with every gzip layer inflated in this process and once through igzip,
// which .ci/run installs (skipped without it, a failure under CI).
func inflaters(t *testing.T, fn func(t *testing.T)) {
	t.Helper()
	regtest.Decoders(t, &gzipExternalMin, []string{"igzip"}, fn)
}
