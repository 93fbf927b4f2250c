package vuln

import (
	"fmt"
	"strings"

	"golang.org/x/mod/semver"
)

// npm versions, and the versions of SEMVER ranges in ecosystems other than Go, follow Semantic
// Versioning 2.0.0: numeric major.minor.patch, then pre-releases ordered identifier by identifier
// (numbers numerically and below words, a shorter list first), build metadata ignored. x/mod/semver
// implements exactly that precedence once a "v" is added.

// semverVersion is a canonical "v"-prefixed semantic version.
type semverVersion string

func (a semverVersion) compare(o version) int {
	return semver.Compare(string(a), string(o.(semverVersion)))
}

// parseSemver reads "1.2.3", "v1.2.3", "=1.2.3" and the OSV start-of-history "0".
func parseSemver(s string) (version, error) {
	v := strings.TrimSpace(s)
	v = strings.TrimPrefix(v, "=")
	v = strings.TrimPrefix(v, "v")
	if v == "0" {
		return semverVersion("v0.0.0"), nil
	}
	// Strict SemVer has all three numbers; x/mod/semver would also take "v1.2" as shorthand.
	core := v
	if i := strings.IndexAny(core, "-+"); i >= 0 {
		core = core[:i]
	}
	if strings.Count(core, ".") != 2 || !semver.IsValid("v"+v) {
		return nil, fmt.Errorf("%w %q", ErrSemver, s)
	}
	return semverVersion("v" + v), nil
}
