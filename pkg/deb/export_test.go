package deb

import "testing"

// SetXZExternalMin sends xz members of at least n compressed bytes to the xz program for the rest of
// the test (n < 0: none).
func SetXZExternalMin(t testing.TB, n int64) {
	old := xzExternalMin
	if n < 0 {
		n = 1 << 62
	}
	xzExternalMin = n
	t.Cleanup(func() { xzExternalMin = old })
}
