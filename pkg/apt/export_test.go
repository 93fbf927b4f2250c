package apt

import (
	"os"
	"testing"

	"github.com/ingot-build/ingot/internal/extproc"
)

// Decoders runs fn once with every index decompressed in this process and once with every compressed
// index through its program (igzip, xz), which CI installs; elsewhere a missing program skips that run.
func Decoders(t *testing.T, fn func(t *testing.T)) {
	t.Helper()
	for _, tc := range []struct {
		name string
		min  int64
	}{{"go", 1 << 62}, {"programs", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "programs" && (!extproc.Igzip.Installed() || !extproc.XZ.Installed()) {
				if os.Getenv("CI") != "" {
					t.Fatal("igzip or xz is not installed (apt-get install isal xz-utils): CI must test both decoders")
				}
				t.Skip("igzip or xz is not installed (apt-get install isal xz-utils)")
			}
			old := indexExternalMin
			indexExternalMin = tc.min
			t.Cleanup(func() { indexExternalMin = old })
			fn(t)
		})
	}
}
