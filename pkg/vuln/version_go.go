package vuln

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/mod/semver"
)

// ErrSemver is wrapped by every error reading a semantic version.
var ErrSemver = errors.New("vuln: invalid semantic version")

// Go module versions are semantic versions with a "v" (pseudo-versions and "+incompatible" included);
// the Go vulnerability database writes them without it. The standard library and toolchain are named
// by Go release tags ("go1.21rc2"), which read as v1.21.0-rc.2, as govulncheck reads them.

// goVersion is a canonical "v"-prefixed semantic version, ordered by golang.org/x/mod/semver.
type goVersion string

func (a goVersion) compare(o version) int { return semver.Compare(string(a), string(o.(goVersion))) }

// goParser returns the parser for versions of the Go package pkg.
func goParser(pkg string) parser {
	if pkg == "stdlib" || pkg == "toolchain" {
		return parseGoRelease
	}
	return parseGoModule
}

func parseGoModule(s string) (version, error) {
	v := s
	if !strings.HasPrefix(v, "v") {
		v = "v" + v
	}
	if !semver.IsValid(v) {
		return nil, fmt.Errorf("%w %q", ErrSemver, s)
	}
	return goVersion(v), nil
}

// parseGoRelease reads a Go release as the standard library's version: "1.22.1", "v1.22.1",
// "go1.22.1", "go1.21rc2", "go1.20" (v1.20.0), and a build's "go1.22.1 X:loopvar" experiment suffix.
func parseGoRelease(s string) (version, error) {
	v := s
	if i := strings.IndexByte(v, ' '); i >= 0 {
		v = v[:i]
	}
	if tag, ok := strings.CutPrefix(v, "go"); ok {
		sv, ok := goTagToSemver(tag)
		if !ok {
			return nil, fmt.Errorf("%w: Go release %q", ErrSemver, s)
		}
		return goVersion(sv), nil
	}
	return parseGoModule(v)
}

// goTagToSemver turns a release tag without "go" ("1.21rc2", "1.20", "1.9beta1") into a semantic version.
func goTagToSemver(tag string) (string, bool) {
	num, pre := tag, ""
	for _, p := range []string{"alpha", "beta", "rc"} {
		if i := strings.Index(tag, p); i > 0 {
			n := tag[i+len(p):]
			if n == "" || strings.Trim(n, "0123456789") != "" {
				return "", false
			}
			num, pre = tag[:i], "-"+p+"."+n
			break
		}
	}
	parts := strings.Split(num, ".")
	if len(parts) < 2 || len(parts) > 3 {
		return "", false
	}
	for _, p := range parts {
		if p == "" || strings.Trim(p, "0123456789") != "" {
			return "", false
		}
	}
	if len(parts) == 2 {
		// go1.21rc2 and go1.20 are both v1.xx.0, the former a pre-release of it.
		parts = append(parts, "0")
	}
	v := "v" + strings.Join(parts, ".") + pre
	if !semver.IsValid(v) {
		return "", false
	}
	return v, true
}
