package imageref

import (
	"os"
	"testing"

	"github.com/ingot-build/ingot/internal/extproc"
)

// inflaters runs fn once with every gzip layer inflated in this process and once through igzip,
// which CI installs (the isal package); elsewhere a missing igzip skips that run.
func inflaters(t *testing.T, fn func(t *testing.T)) {
	t.Helper()
	for _, tc := range []struct {
		name string
		min  int64
	}{{"go", 1 << 62}, {"igzip", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "igzip" && !extproc.Igzip.Installed() {
				if os.Getenv("CI") != "" {
					t.Fatal("igzip is not installed (apt-get install isal): CI must test both inflaters")
				}
				t.Skip("igzip is not installed (apt-get install isal)")
			}
			old := gzipExternalMin
			gzipExternalMin = tc.min
			t.Cleanup(func() { gzipExternalMin = old })
			fn(t)
		})
	}
}
