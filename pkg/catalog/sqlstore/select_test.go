package sqlstore

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSelectFirst: whatever the input order, its duplicates and n, the first n after selectFirst
// are the n smallest, and nothing is lost or invented.
func TestSelectFirst(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	inputs := map[string]func(n int) []int{
		"random":     func(n int) []int { return rng.Perm(n) },
		"ascending":  func(n int) []int { s := rng.Perm(n); slices.Sort(s); return s },
		"descending": func(n int) []int { s := rng.Perm(n); slices.Sort(s); slices.Reverse(s); return s },
		"few values": func(n int) []int {
			s := make([]int, n)
			for i := range s {
				s[i] = rng.IntN(3)
			}
			return s
		},
		"all equal": func(n int) []int { return make([]int, n) },
	}
	for name, gen := range inputs {
		for _, size := range []int{0, 1, 2, 3, 10, 101, 5000} {
			for _, n := range []int{-1, 0, 1, 2, size / 3, size - 1, size, size + 1} {
				keys := gen(size)
				want := slices.Clone(keys)
				slices.Sort(want)
				selectFirst(keys, n, cmp.Compare[int])
				got := slices.Clone(keys)
				slices.Sort(got)
				if !slices.Equal(got, want) {
					t.Fatalf("%s, %d keys, n %d: the keys changed", name, size, n)
				}
				if n <= 0 || n >= size {
					continue
				}
				first := slices.Clone(keys[:n])
				slices.Sort(first)
				if !slices.Equal(first, want[:n]) {
					t.Fatalf("%s, %d keys, n %d: the first n are not the n smallest", name, size, n)
				}
			}
		}
	}
}
