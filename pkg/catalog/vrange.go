package catalog

import (
	"fmt"
	"strings"

	"github.com/ingot-build/ingot/pkg/vuln"
)

// Range is a version constraint such as "<1.2.3" or ">=1.0, <2.0": comparisons that must all hold.
// Versions are compared by their ecosystem's own ordering (vuln.CompareVersions), so "<1:2.0" means
// dpkg's ordering for a Debian package and "<1.10" semantic versioning for a Go module.
type Range struct{ cs []comparison }

type comparison struct {
	op      string
	version string
}

// rangeOps are the comparison operators, longest first so that "<=" is not read as "<".
var rangeOps = []string{"<=", ">=", "!=", "==", "<", ">", "="}

// ParseRange reads a comma-separated list of comparisons (<, <=, >, >=, =, ==, != and a version; a
// bare version means =). The empty string is the range of every version.
func ParseRange(s string) (Range, error) {
	var r Range
	if strings.TrimSpace(s) == "" {
		return r, nil
	}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		c := comparison{op: "="}
		for _, op := range rangeOps {
			if rest, ok := strings.CutPrefix(part, op); ok {
				c.op, part = op, strings.TrimSpace(rest)
				break
			}
		}
		if c.op == "==" {
			c.op = "="
		}
		if part == "" || strings.ContainsAny(part, " \t<>=!") {
			return Range{}, fmt.Errorf("%w: version range %q: want comparisons such as \"<1.2.3\" or \">=1.0, <2.0\"", ErrInvalid, s)
		}
		c.version = part
		r.cs = append(r.cs, c)
	}
	return r, nil
}

// IsZero reports whether the range holds every version.
func (r Range) IsZero() bool { return len(r.cs) == 0 }

func (r Range) String() string {
	parts := make([]string, len(r.cs))
	for i, c := range r.cs {
		parts[i] = c.op + c.version
	}
	return strings.Join(parts, ", ")
}

// Contains reports whether version, of package name in ecosystem, satisfies every comparison. The
// error says the ecosystem cannot be ordered (vuln.ErrNoOrdering) or a version does not parse in it
// (vuln.ErrVersion); the empty range contains every version, of any ecosystem.
func (r Range) Contains(ecosystem, name, version string) (bool, error) {
	for _, c := range r.cs {
		n, err := vuln.CompareVersions(ecosystem, name, version, c.version)
		if err != nil {
			return false, err
		}
		var ok bool
		switch c.op {
		case "<":
			ok = n < 0
		case "<=":
			ok = n <= 0
		case ">":
			ok = n > 0
		case ">=":
			ok = n >= 0
		case "=":
			ok = n == 0
		case "!=":
			ok = n != 0
		}
		if !ok {
			return false, nil
		}
	}
	return true, nil
}

// MatchEcosystem reports whether a package's ecosystem is the queried one: equal, or the query is a
// base ecosystem without a release ("Debian") and the package's is a release of it ("Debian:12").
// Case is ignored, as OSV's own tools do for the base name. The empty query matches any.
func MatchEcosystem(query, ecosystem string) bool {
	if query == "" || strings.EqualFold(query, ecosystem) {
		return true
	}
	base, _, hasRelease := strings.Cut(ecosystem, ":")
	return hasRelease && !strings.Contains(query, ":") && strings.EqualFold(query, base)
}
