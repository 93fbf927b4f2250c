package regtest

import "testing"

// Decoders runs fn twice, as the subtests "go" and "programs": first with *threshold (the input
// size from which a decoder program is used) beyond any input, so Go's decoders do everything,
// then at 0, so the programs do, which must be installed (Peer). *threshold is restored after each.
func Decoders(t *testing.T, threshold *int64, programs []string, fn func(t *testing.T)) {
	t.Helper()
	for _, tc := range []struct {
		name string
		min  int64
	}{{"go", 1 << 62}, {"programs", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.min == 0 {
				for _, p := range programs {
					Peer(t, p)
				}
			}
			old := *threshold
			*threshold = tc.min
			t.Cleanup(func() { *threshold = old })
			fn(t)
		})
	}
}
