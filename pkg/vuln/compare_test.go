package vuln_test

import (
	"errors"
	"testing"

	"github.com/ingot-build/ingot/pkg/fault"
	"github.com/ingot-build/ingot/pkg/vuln"
)

func TestCompareVersions(t *testing.T) {
	for _, c := range []struct {
		eco, name, a, b string
		want            int
	}{
		{"Debian:12", "openssl", "3.0.11-1~deb12u2", "3.0.11-1", -1}, // tilde first
		{"Debian", "tzdata", "1:2024a-0", "2025b-0+deb12u1", 1},      // any epoch beats none
		{"debian:12", "libc6", "2.36-9+deb12u4", "2.36-9+deb12u10", -1},
		{"Ubuntu:22.04", "bash", "5.1-6ubuntu1", "5.1-6ubuntu1", 0},
		{"Go", "golang.org/x/net", "0.23.0", "v0.7.0", 1}, // with or without v, numerically
		{"Go", "stdlib", "go1.22.1", "1.22.0", 1},
		{"Go", "stdlib", "go1.21rc2", "1.21.0", -1},
		{"npm", "lodash", "4.17.21", "4.17.3", 1},
		{"npm", "react", "19.0.0-rc.1", "19.0.0", -1},
		{"PyPI", "Django", "4.2.post1", "4.2", 1},
		{"pypi", "urllib3", "2.0.0rc1", "2.0.0", -1},
		{"Alpine:v3.19", "busybox", "1.36.1-r15", "1.36.1-r2", 1},
	} {
		got, err := vuln.CompareVersions(c.eco, c.name, c.a, c.b)
		if err != nil {
			t.Errorf("CompareVersions(%s, %s, %s, %s): %v", c.eco, c.name, c.a, c.b, err)
			continue
		}
		if got != c.want {
			t.Errorf("CompareVersions(%s, %s, %s, %s) = %d, want %d", c.eco, c.name, c.a, c.b, got, c.want)
		}
	}
	if _, err := vuln.CompareVersions("Maven", "x", "1", "2"); !errors.Is(err, vuln.ErrNoOrdering) || !errors.Is(err, fault.Invalid) {
		t.Errorf("Maven: %v, want ErrNoOrdering", err)
	}
	if _, err := vuln.CompareVersions("Go", "x", "1.0", "banana"); !errors.Is(err, vuln.ErrVersion) {
		t.Errorf("bad Go version: %v, want ErrVersion", err)
	}
	if got := vuln.NormalizeName("PyPI", "Zope.Interface"); got != "zope-interface" {
		t.Errorf("NormalizeName(PyPI) = %q", got)
	}
	if got := vuln.NormalizeName("Go", "github.com/Foo/Bar"); got != "github.com/Foo/Bar" {
		t.Errorf("NormalizeName(Go) = %q", got)
	}
}
