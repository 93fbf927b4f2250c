package main

import (
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []time.Duration
		want time.Duration
	}{
		{nil, 0},
		{[]time.Duration{7}, 7},
		{[]time.Duration{9, 1, 5}, 5},
		{[]time.Duration{4, 1, 3, 2}, 3},
		{[]time.Duration{100, 2, 2, 1, 2}, 2},
	} {
		in := append([]time.Duration(nil), tc.in...)
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", in, got, tc.want)
		}
		for i := range in {
			if in[i] != tc.in[i] {
				t.Errorf("median reordered its argument: %v, was %v", tc.in, in)
			}
		}
	}
}

func TestRatio(t *testing.T) {
	if got := ratio(time.Second, 100*time.Millisecond); got != 10 {
		t.Errorf("ratio(1s, 100ms) = %v, want 10", got)
	}
	if got := ratio(time.Second, 0); got != 0 {
		t.Errorf("ratio(1s, 0) = %v, want 0", got)
	}
}

func TestGitVersion(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"  ______   ______\nGitVersion:    v2.6.5\nGitCommit:     unknown\n", "v2.6.5"},
		{"GitVersion: v3.1.3", "v3.1.3"},
		{"cosign version unknown\n", ""},
		{"", ""},
	} {
		if got := gitVersion(tc.in); got != tc.want {
			t.Errorf("gitVersion(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestMedians takes each median on its own: the run with the median wall time need not be the one
// with the median CPU time.
func TestMedians(t *testing.T) {
	got := medians([]measure{{wall: 30, cpu: 1}, {wall: 10, cpu: 3}, {wall: 20, cpu: 2}})
	if want := (measure{wall: 20, cpu: 2}); got != want {
		t.Errorf("medians = %+v, want %+v", got, want)
	}
}
