package deb

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"

	"github.com/ingot-build/ingot/internal/regtest"
)

func TestParseVersion(t *testing.T) {
	tests := []struct {
		in   string
		want Version
		str  string
	}{
		{"0", Version{0, "0", ""}, "0"},
		{"1.0", Version{0, "1.0", ""}, "1.0"},
		{"0:1.0", Version{0, "1.0", ""}, "1.0"},
		{"1:2.3-4", Version{1, "2.3", "4"}, "1:2.3-4"},
		{"2.36-9+deb12u14", Version{0, "2.36", "9+deb12u14"}, "2.36-9+deb12u14"},
		{"1.2-3-4", Version{0, "1.2-3", "4"}, "1.2-3-4"},
		{"1.0~rc1+dfsg-1~bpo12+1", Version{0, "1.0~rc1+dfsg", "1~bpo12+1"}, "1.0~rc1+dfsg-1~bpo12+1"},
		{" 1.0-1 ", Version{0, "1.0", "1"}, "1.0-1"},
		{"2147483647:1", Version{2147483647, "1", ""}, "2147483647:1"},
		{"1.0A-B", Version{0, "1.0A", "B"}, "1.0A-B"},
	}
	for _, tt := range tests {
		got, err := ParseVersion(tt.in)
		if err != nil {
			t.Errorf("ParseVersion(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseVersion(%q) = %#v, want %#v", tt.in, got, tt.want)
		}
		if got.String() != tt.str {
			t.Errorf("ParseVersion(%q).String() = %q, want %q", tt.in, got.String(), tt.str)
		}
	}
}

func TestParseVersionErrors(t *testing.T) {
	for _, in := range []string{
		"", " ", ":1.0", "a:1.0", "-1:1.0", "2147483648:1", "99999999999999999999:1",
		"1.0-", "-1", "a1.0", "~1", "1.0 2", "1.0_1", "1.0-1_2", "1.0-1-", "1:", "1:a", "1.0-1:2",
		"1:2:3", "1.0-a-b-", "1.0-1/2", "1.0\x00",
	} {
		if v, err := ParseVersion(in); !errors.Is(err, ErrVersion) {
			t.Errorf("ParseVersion(%q) = %v, %v; want ErrVersion", in, v, err)
		}
	}
}

// Cases from dpkg's lib/dpkg/t/t-version.c and deb-version(7).
func TestCompare(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		// Epochs.
		{"0:0", "0:0", 0},
		{"0:0-0", "0:0-0", 0},
		{"0:0.0-0.0", "0:0.0-0.0", 0},
		{"1:0", "0:0", 1},
		{"0:0", "1:0", -1},
		{"1:1.0", "2.0", 1},
		{"1:0", "0:999999", 1},
		{"10:1", "9:2", 1},
		// Upstream and revision.
		{"0:0-0", "0:0-1", -1},
		{"0:0-1", "0:0-0", 1},
		{"0:0-a", "0:0-b", -1},
		{"0:0-b", "0:0-a", 1},
		{"0:0-0", "0:1-0", -1},
		{"0:1-0", "0:0-0", 1},
		{"1.0", "1.0-0", 0},
		{"1.2.3", "1.2.3-1", -1},
		{"1.0-1", "1.0-1.1", -1},
		// Numeric runs compare as numbers, leading zeros ignored.
		{"1.10", "1.9", 1},
		{"1.001", "1.1", 0},
		{"1.0010", "1.9", 1},
		{"10", "9", 1},
		{"1.2.10", "1.2.9", 1},
		{"1:0.4", "1:0.10", -1},
		{"2.36-9+deb12u14", "2.36-9+deb12u9", 1},
		{"0001", "01", 0},
		// Tildes sort before everything, even the end of the string.
		{"1.0~rc1", "1.0", -1},
		{"1.0~~", "1.0~", -1},
		{"1.0~~a", "1.0~", -1},
		{"1.0~", "1.0", -1},
		{"1.0~rc1", "1.0~rc2", -1},
		{"1.0~rc1-1", "1.0-1", -1},
		{"1.0-1~bpo1", "1.0-1", -1},
		{"0:0~", "0:0", -1},
		{"0:0~~", "0:0~", -1},
		{"0:0~a", "0:0~", 1},
		// Letters sort before non-letters.
		{"1.0", "1.0a", -1},
		{"1.0a", "1.0+", -1},
		{"1.0a", "1.0.", -1},
		{"1.0+", "1.0.", -1},
		{"1.0.1", "1.0+1", 1},
		{"1.0a", "1.0b", -1},
		{"1.0A", "1.0a", -1},
		{"1.0Z", "1.0a", -1},
		{"0:0a", "0:0", 1},
		{"1.0+dfsg", "1.0", 1},
		{"1.0+dfsg", "1.0.1", -1},
		{"7.6p2-4", "7.6-0", 1},
		{"1.0.3-3", "1.0-1", 1},
		{"1.3", "1.2.2-2", 1},
		{"1.3", "1.2.2", 1},
		{"0-pre", "0-pre", 0},
		{"0-pre", "0-pree", -1},
		{"1.1.6r2-2", "1.1.6r-1", 1},
		{"2.6b2-1", "2.6b-2", 1},
		{"98.1p5-1", "98.1-pre2-b6-2", -1},
		{"0.4a6-2", "0.4-1", 1},
		{"1:3.0.5-2", "1:3.0.5.1", -1},
		{"2.0.7pre1-4", "2.0.7r-1", -1},
		{"0.2", "1.0-0", -1},
	}
	for _, tt := range tests {
		a, b := MustParseVersion(tt.a), MustParseVersion(tt.b)
		if got := a.Compare(b); got != tt.want {
			t.Errorf("Compare(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := b.Compare(a); got != -tt.want {
			t.Errorf("Compare(%q, %q) = %d, want %d", tt.b, tt.a, got, -tt.want)
		}
	}
}

// verrevcmp also orders strings that ParseVersion rejects, such as a leading letter; dpkg compares
// those when a package database holds them.
func TestVerrevcmp(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"a", "", 1},
		{"", "~", 1},
		{"a", "b", -1},
		{"", "0", 0},
		{"~", "0", -1},
		{"a1", "a01", 0},
	}
	for _, tt := range tests {
		if got := verrevcmp(tt.a, tt.b); got != tt.want {
			t.Errorf("verrevcmp(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := verrevcmp(tt.b, tt.a); got != -tt.want {
			t.Errorf("verrevcmp(%q, %q) = %d, want %d", tt.b, tt.a, got, -tt.want)
		}
	}
}

// randomVersion builds a valid version from pieces that exercise the interesting parts of dpkg's
// ordering: tildes, letters against punctuation, leading zeros and long digit runs.
func randomVersion(r *rand.Rand) string {
	pieces := []string{"0", "1", "2", "9", "10", "01", "007", "99999999999999999999", ".", "+", "~", "~~",
		"a", "b", "z", "A", "rc", "dfsg", "deb12u", "-", "."}
	var b strings.Builder
	if r.IntN(4) == 0 {
		fmt.Fprintf(&b, "%d:", r.IntN(3))
	}
	b.WriteString([]string{"0", "1", "2", "10"}[r.IntN(4)])
	for n := r.IntN(6); n > 0; n-- {
		b.WriteString(pieces[r.IntN(len(pieces))])
	}
	if r.IntN(2) == 0 {
		b.WriteByte('-')
		b.WriteString([]string{"0", "1", "1a", "a", "1~bpo", "1+b1", "1.1", "~", "01"}[r.IntN(9)])
	}
	return b.String()
}

// TestCompareAgainstDpkg checks Compare against the real dpkg --compare-versions on generated pairs.
func TestCompareAgainstDpkg(t *testing.T) {
	dpkg := regtest.Peer(t, "dpkg")
	if testing.Short() {
		t.Skip("runs dpkg several hundred times")
	}
	r := rand.New(rand.NewPCG(1, 2))
	checked := 0
	for checked < 300 {
		as, bs := randomVersion(r), randomVersion(r)
		if r.IntN(3) == 0 {
			bs = as + []string{"~", "a", ".", "+", "0", "-1", "~a"}[r.IntN(7)]
		}
		a, errA := ParseVersion(as)
		b, errB := ParseVersion(bs)
		if errA != nil || errB != nil {
			continue // a trailing '-' and similar; ParseVersionErrors covers rejection
		}
		checked++
		want := 0
		switch {
		case exec.Command(dpkg, "--compare-versions", as, "lt", bs).Run() == nil:
			want = -1
		case exec.Command(dpkg, "--compare-versions", as, "gt", bs).Run() == nil:
			want = 1
		}
		if got := a.Compare(b); got != want {
			t.Errorf("Compare(%q, %q) = %d, dpkg says %d", as, bs, got, want)
		}
	}
}
