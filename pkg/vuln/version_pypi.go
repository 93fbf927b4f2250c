package vuln

import (
	"cmp"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
)

// ErrPEP440 is wrapped by every error reading a Python package version.
var ErrPEP440 = errors.New("vuln: invalid PEP 440 version")

// PyPI versions are ordered by PEP 440, implemented here rather than through a library: the rules
// fit on a page and the Go ports pull in their own version packages. The pattern and the sort key
// follow the specification's appendix and the reference implementation (pypa/packaging): epoch,
// release without trailing zeros, then pre-, post- and dev-releases, then the local label.
var pep440Pattern = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^v?` +
		`(?:(?P<epoch>[0-9]+)!)?` +
		`(?P<release>[0-9]+(?:\.[0-9]+)*)` +
		`(?:[-_.]?(?P<pre_l>alpha|a|beta|b|preview|pre|c|rc)[-_.]?(?P<pre_n>[0-9]+)?)?` +
		`(?:(?:-(?P<post_n1>[0-9]+))|(?:[-_.]?(?P<post_l>post|rev|r)[-_.]?(?P<post_n2>[0-9]+)?))?` +
		`(?:[-_.]?(?P<dev_l>dev)[-_.]?(?P<dev_n>[0-9]+)?)?` +
		`(?:\+(?P<local>[a-z0-9]+(?:[-_.][a-z0-9]+)*))?$`)
})

// pep440Version is a parsed version; numbers are kept as digit strings without leading zeros so any
// length compares correctly.
type pep440Version struct {
	epoch   string
	release []string // trailing zeros removed
	// pre: rank is -1 for "a dev release of the final version" (sorts before any pre-release), 0..2
	// for a, b, rc, and 3 for none (sorts after pre-releases).
	preRank int
	preNum  string
	hasPost bool
	postNum string
	hasDev  bool
	devNum  string
	local   []string
}

func parsePEP440(s string) (version, error) {
	m := pep440Pattern().FindStringSubmatch(strings.ToLower(strings.TrimSpace(s)))
	if m == nil {
		return nil, fmt.Errorf("%w %q", ErrPEP440, s)
	}
	g := func(name string) string { return m[pep440Pattern().SubexpIndex(name)] }
	v := pep440Version{epoch: trimZeros(g("epoch"))}
	for _, r := range strings.Split(g("release"), ".") {
		v.release = append(v.release, trimZeros(r))
	}
	for len(v.release) > 0 && v.release[len(v.release)-1] == "0" {
		v.release = v.release[:len(v.release)-1]
	}
	switch g("pre_l") {
	case "":
		v.preRank = 3
	case "a", "alpha":
		v.preRank = 0
	case "b", "beta":
		v.preRank = 1
	default: // c, pre, preview, rc
		v.preRank = 2
	}
	v.preNum = trimZeros(g("pre_n"))
	if n := g("post_n1"); n != "" {
		v.hasPost, v.postNum = true, trimZeros(n)
	} else if g("post_l") != "" {
		v.hasPost, v.postNum = true, trimZeros(g("post_n2"))
	}
	if g("dev_l") != "" {
		v.hasDev, v.devNum = true, trimZeros(g("dev_n"))
	}
	if v.preRank == 3 && !v.hasPost && v.hasDev {
		v.preRank = -1
	}
	if l := g("local"); l != "" {
		v.local = strings.FieldsFunc(l, func(r rune) bool { return r == '-' || r == '_' || r == '.' })
	}
	return v, nil
}

// trimZeros turns a digit string into its canonical form ("" and "000" are "0").
func trimZeros(n string) string {
	n = strings.TrimLeft(n, "0")
	if n == "" {
		return "0"
	}
	return n
}

func isNumber(s string) bool { return s != "" && strings.Trim(s, "0123456789") == "" }

// cmpNumber compares canonical digit strings.
func cmpNumber(a, b string) int {
	if c := cmp.Compare(len(a), len(b)); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

func (a pep440Version) compare(o version) int {
	b := o.(pep440Version)
	if c := cmpNumber(a.epoch, b.epoch); c != 0 {
		return c
	}
	for i := 0; i < len(a.release) || i < len(b.release); i++ {
		switch {
		case i >= len(a.release):
			return -1
		case i >= len(b.release):
			return 1
		}
		if c := cmpNumber(a.release[i], b.release[i]); c != 0 {
			return c
		}
	}
	if c := cmp.Compare(a.preRank, b.preRank); c != 0 {
		return c
	}
	if a.preRank >= 0 && a.preRank < 3 {
		if c := cmpNumber(a.preNum, b.preNum); c != 0 {
			return c
		}
	}
	// No post-release sorts before any post-release.
	if a.hasPost != b.hasPost {
		if a.hasPost {
			return 1
		}
		return -1
	}
	if c := cmpNumber(a.postNum, b.postNum); a.hasPost && c != 0 {
		return c
	}
	// No dev-release sorts after any dev-release.
	if a.hasDev != b.hasDev {
		if a.hasDev {
			return -1
		}
		return 1
	}
	if c := cmpNumber(a.devNum, b.devNum); a.hasDev && c != 0 {
		return c
	}
	return compareLocal(a.local, b.local)
}

// compareLocal orders local labels: none first, then segment by segment with numbers above words,
// and a label that extends another after it.
func compareLocal(a, b []string) int {
	for i := 0; i < len(a) || i < len(b); i++ {
		switch {
		case i >= len(a):
			return -1
		case i >= len(b):
			return 1
		}
		an, bn := isNumber(a[i]), isNumber(b[i])
		switch {
		case an && bn:
			if c := cmpNumber(trimZeros(a[i]), trimZeros(b[i])); c != 0 {
				return c
			}
		case an:
			return 1
		case bn:
			return -1
		default:
			if c := strings.Compare(a[i], b[i]); c != 0 {
				return c
			}
		}
	}
	return 0
}
