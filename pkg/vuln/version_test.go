package vuln

import (
	"testing"
)

// versionOrderCase says a sorts before, equal to or after b (-1, 0, +1).
type versionOrderCase struct {
	a, b string
	want int
}

func checkOrder(t *testing.T, name string, parse parser, cases []versionOrderCase) {
	t.Helper()
	for _, c := range cases {
		va, err := parse(c.a)
		if err != nil {
			t.Errorf("%s: parse %q: %v", name, c.a, err)
			continue
		}
		vb, err := parse(c.b)
		if err != nil {
			t.Errorf("%s: parse %q: %v", name, c.b, err)
			continue
		}
		if got := va.compare(vb); got != c.want {
			t.Errorf("%s: compare(%q, %q) = %d, want %d", name, c.a, c.b, got, c.want)
		}
		if got := vb.compare(va); got != -c.want {
			t.Errorf("%s: compare(%q, %q) = %d, want %d (antisymmetry)", name, c.b, c.a, got, -c.want)
		}
	}
}

func checkInvalid(t *testing.T, name string, parse parser, bad []string) {
	t.Helper()
	for _, s := range bad {
		if v, err := parse(s); err == nil {
			t.Errorf("%s: parse %q = %v, want an error", name, s, v)
		}
	}
}

func TestDebianOrder(t *testing.T) {
	checkOrder(t, "Debian", parseDebian, []versionOrderCase{
		{"1:2.0~rc1", "1:2.0", -1}, // a tilde sorts before the release
		{"1:2.0~rc1", "2.0", 1},    // any epoch beats none
		{"2.0", "0:2.0", 0},        // epoch 0 is no epoch
		{"1.0~~", "1.0~", -1},      // double tilde first
		{"1.0", "1.0-0", 0},        // no revision compares like "0"
		{"1.0-1", "1.0+b1", -1},    // "-" splits the revision; "+" belongs to the upstream part
		{"3.0.11-1~deb12u2", "3.0.11-1", -1},
		{"3.0.13-1~deb12u1", "3.0.11-1~deb12u2", 1},
		{"2.36-9+deb12u4", "2.36-9+deb12u10", -1}, // numbers numerically
		{"1.2a", "1.2+", -1},                      // letters before other characters
		{"0", "0.1", -1},
	})
	checkInvalid(t, "Debian", parseDebian, []string{"", "a1.0", "1:", "1.0-", "1.0_1"})
}

func TestAlpineOrder(t *testing.T) {
	checkOrder(t, "Alpine", parseAPK, []versionOrderCase{
		{"1.0", "1.0.1", -1},
		{"1.2.10", "1.2.9", 1},              // numbers numerically
		{"1.01", "1.1", -1},                 // a leading zero compares as a string
		{"1.10", "1.09", 1},                 // ... and "1" > "0"
		{"1.0_alpha", "1.0_beta", -1},       // alpha < beta < pre < rc < none
		{"1.0_beta2", "1.0_pre1", -1},       //
		{"1.0_pre3", "1.0_rc1", -1},         //
		{"1.0_rc9", "1.0", -1},              // pre-release suffix before the release
		{"1.0", "1.0_cvs", -1},              // none < cvs < svn < git < hg < p
		{"1.0_cvs1", "1.0_svn1", -1},        //
		{"1.0_git20240101", "1.0_hg1", -1},  //
		{"1.0_hg2", "1.0_p1", -1},           //
		{"1.0_p9", "1.0_p10", -1},           // suffix numbers numerically
		{"1.0_alpha_pre2", "1.0_alpha", -1}, // a further pre-release suffix goes below
		{"1.0_p1", "1.0-r5", 1},             // a post suffix beats a revision
		{"1.0-r1", "1.0-r10", -1},           //
		{"1.0", "1.0-r0", -1},               // the version that goes on with -r0 is newer
		{"1.0-r9", "1.0.1", -1},             // revision before another number
		{"1.0a", "1.0b", -1},                // letters
		{"1.0z", "1.0.1", -1},               // a letter before another number
		{"1.0a-r1", "1.0a", 1},              //
		{"2.0~abc123-r1", "2.0-r1", 1},      // a hash comes before a revision in the grammar, so this one goes on further
		{"2.0~abc123", "2.0~abd000", -1},    // hashes as strings
		{"3.0.13-r0", "3.0.13-r0", 0},       //
		{"20240101", "3.19.1", 1},           // date versions are big numbers
		{"0.1.0_alpha", "0.1.0_alpha", 0},   //
		{"1.0.0_pre20191002-r0", "1.0.0_pre20210530-r0", -1},
	})
	checkInvalid(t, "Alpine", parseAPK, []string{"", "a1", "1.0bc", "1.0-1", "1.0_foo", "1.0_", "1.0~", "1.0-r", "1..0", "1.0-r1-r2", "1.0 "})
}

func TestGoOrder(t *testing.T) {
	checkOrder(t, "Go module", parseGoModule, []versionOrderCase{
		{"0.0.0-20220906165146-f3363e06e74c", "0.1.0", -1}, // pseudo-version before the first release
		{"v0.7.0", "0.7.0", 0},                             // with or without "v"
		{"1.2.3-rc.1", "1.2.3", -1},                        // pre-release first
		{"2.0.0+incompatible", "2.0.0", 0},                 // build metadata ignored
		{"1.10.0", "1.9.9", 1},
		{"0", "0.0.1", -1}, // OSV's "introduced: 0" reads as v0
	})
	checkOrder(t, "Go release", parseGoRelease, []versionOrderCase{
		{"go1.21rc2", "1.21.0-rc.2", 0},
		{"go1.21rc2", "1.21.0", -1},
		{"go1.20", "1.20.0", 0},
		{"go1.9beta1", "1.9.0-beta.1", 0},
		{"go1.22.1", "v1.22.1", 0},
		{"go1.22.1 X:loopvar", "1.22.1", 0},
		{"1.19.0-0", "go1.19", -1}, // the Go database's "introduced: 1.19.0-0" precedes go1.19's pre-releases
		{"1.19.0-0", "go1.19rc1", -1},
		{"go1.22.10", "go1.22.9", 1},
	})
	checkInvalid(t, "Go module", parseGoModule, []string{"", "(devel)", "1.2.3.4", "latest", "v1.2.3-"})
	checkInvalid(t, "Go release", parseGoRelease, []string{"devel go1.23-abcdef", "go1", "go1.21rc", "gox.y", "go1.21.0.1"})
}

func TestSemverOrder(t *testing.T) {
	// The precedence example of semver.org §11, and npm's habits.
	checkOrder(t, "npm", parseSemver, []versionOrderCase{
		{"1.0.0-alpha", "1.0.0-alpha.1", -1},
		{"1.0.0-alpha.1", "1.0.0-alpha.beta", -1},
		{"1.0.0-alpha.beta", "1.0.0-beta", -1},
		{"1.0.0-beta", "1.0.0-beta.2", -1},
		{"1.0.0-beta.2", "1.0.0-beta.11", -1},
		{"1.0.0-beta.11", "1.0.0-rc.1", -1},
		{"1.0.0-rc.1", "1.0.0", -1},
		{"1.0.0+build.5", "1.0.0", 0},
		{"v4.17.21", "4.17.21", 0},
		{"=4.17.21", "4.17.21", 0},
		{"0", "0.0.0", 0},
		{"4.17.20", "4.17.21", -1},
		{"10.0.0", "9.99.99", 1},
	})
	checkInvalid(t, "npm", parseSemver, []string{"", "1.2", "1.2.3.4", "01.2.3", "1.2.3-", "latest", "^1.2.3"})
}

func TestPyPIOrder(t *testing.T) {
	// The ordering example of PEP 440 ("Summary of permitted suffixes and relative ordering"), in
	// pairs, plus normalisation cases.
	ordered := []string{
		"1.dev0", "1.0.dev456", "1.0a1", "1.0a2.dev456", "1.0a12.dev456", "1.0a12", "1.0b1.dev456",
		"1.0b2", "1.0b2.post345.dev456", "1.0b2.post345", "1.0rc1.dev456", "1.0rc1", "1.0",
		"1.0+abc.5", "1.0+abc.7", "1.0+5", "1.0.post456.dev34", "1.0.post456", "1.0.15", "1.1.dev1",
	}
	var cases []versionOrderCase
	for i := 0; i+1 < len(ordered); i++ {
		cases = append(cases, versionOrderCase{ordered[i], ordered[i+1], -1})
	}
	cases = append(cases,
		versionOrderCase{"1.0", "1.0.0", 0},          // trailing zeros do not count
		versionOrderCase{"1.0.dev0", "1.0", -1},      // first entry's dev is 1.dev0
		versionOrderCase{"1.0-1", "1.0.post1", 0},    // implicit post-release
		versionOrderCase{"1.0alpha1", "1.0a1", 0},    // spelling of pre-releases
		versionOrderCase{"1.0c1", "1.0rc1", 0},       //
		versionOrderCase{"1.0-pre1", "1.0rc1", 0},    //
		versionOrderCase{"1.0.rev2", "1.0.post2", 0}, //
		versionOrderCase{"v1.0", "1.0", 0},           //
		versionOrderCase{"1!0.1", "2.0", 1},          // epochs first
		versionOrderCase{"1.0a", "1.0a0", 0},         // an absent number is zero
		versionOrderCase{"2.10", "2.9", 1},           // numbers numerically
		versionOrderCase{"1.0+ubuntu.1", "1.0+ubuntu.01", 0},
		versionOrderCase{"1.0+abc", "1.0+abc.1", -1},
		versionOrderCase{"1.0RC1", "1.0rc1", 0},
		versionOrderCase{"18446744073709551616.0", "18446744073709551615.9", 1}, // beyond uint64
		versionOrderCase{"0", "0.0.1", -1},
	)
	checkOrder(t, "PyPI", parsePEP440, cases)
	checkInvalid(t, "PyPI", parsePEP440, []string{"", "1.0-", "foo", "1.0+", "1.0+a+b", "1.0.x", "1.0beta-1-"})
}

func TestNormalizePyPIName(t *testing.T) {
	for in, want := range map[string]string{
		"Django": "django", "zope.interface": "zope-interface", "typing__extensions": "typing-extensions",
		"Foo.-_Bar": "foo-bar", "requests": "requests",
	} {
		if got := normalizePyPIName(in); got != want {
			t.Errorf("normalizePyPIName(%q) = %q, want %q", in, got, want)
		}
	}
}
