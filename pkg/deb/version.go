package deb

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrVersion is wrapped by every version syntax error.
var ErrVersion = errors.New("deb: invalid version")

// maxEpoch is dpkg's limit (INT_MAX); larger epochs are rejected rather than wrapped.
const maxEpoch = 1<<31 - 1

// Version is a Debian package version, [epoch:]upstream_version[-debian_revision], as described in
// deb-version(7).
type Version struct {
	Epoch    uint64
	Upstream string
	Revision string
}

// ParseVersion parses and validates s following deb-version(7): the epoch is a number, the upstream
// version starts with a digit and holds only alphanumerics and ".+-~", the revision (after the last
// hyphen) only alphanumerics and ".+~". Surrounding whitespace is ignored, as dpkg does.
func ParseVersion(s string) (Version, error) {
	orig := s
	s = strings.Trim(s, " \t\n")
	if s == "" {
		return Version{}, fmt.Errorf("%w: empty version", ErrVersion)
	}
	var v Version
	if i := strings.IndexByte(s, ':'); i >= 0 {
		e := s[:i]
		if e == "" {
			return Version{}, fmt.Errorf("%w %q: empty epoch", ErrVersion, orig)
		}
		for j := 0; j < len(e); j++ {
			if !isDigit(e[j]) {
				return Version{}, fmt.Errorf("%w %q: epoch is not a number", ErrVersion, orig)
			}
		}
		n, err := strconv.ParseUint(e, 10, 64)
		if err != nil || n > maxEpoch {
			return Version{}, fmt.Errorf("%w %q: epoch too big", ErrVersion, orig)
		}
		v.Epoch = n
		s = s[i+1:]
	}
	v.Upstream = s
	if i := strings.LastIndexByte(s, '-'); i >= 0 {
		v.Upstream, v.Revision = s[:i], s[i+1:]
		if v.Revision == "" {
			return Version{}, fmt.Errorf("%w %q: empty revision", ErrVersion, orig)
		}
	}
	if v.Upstream == "" {
		return Version{}, fmt.Errorf("%w %q: empty upstream version", ErrVersion, orig)
	}
	if !isDigit(v.Upstream[0]) {
		return Version{}, fmt.Errorf("%w %q: upstream version does not start with a digit", ErrVersion, orig)
	}
	for i := 0; i < len(v.Upstream); i++ {
		if c := v.Upstream[i]; !isAlnum(c) && !strings.ContainsRune(".+-~", rune(c)) {
			return Version{}, fmt.Errorf("%w %q: character %q not allowed in upstream version", ErrVersion, orig, c)
		}
	}
	for i := 0; i < len(v.Revision); i++ {
		if c := v.Revision[i]; !isAlnum(c) && !strings.ContainsRune(".+~", rune(c)) {
			return Version{}, fmt.Errorf("%w %q: character %q not allowed in revision", ErrVersion, orig, c)
		}
	}
	return v, nil
}

// MustParseVersion is ParseVersion for constants in tests and examples; it panics on error.
func MustParseVersion(s string) Version {
	v, err := ParseVersion(s)
	if err != nil {
		panic(err)
	}
	return v
}

// String returns the canonical form: the epoch only when non-zero, the revision only when present.
func (v Version) String() string {
	var b strings.Builder
	if v.Epoch != 0 {
		b.WriteString(strconv.FormatUint(v.Epoch, 10))
		b.WriteByte(':')
	}
	b.WriteString(v.Upstream)
	if v.Revision != "" {
		b.WriteByte('-')
		b.WriteString(v.Revision)
	}
	return b.String()
}

// Compare returns -1, 0 or +1 as v sorts before, equal to or after o in dpkg's order: epochs
// numerically, then upstream versions, then revisions, each with verrevcmp from lib/dpkg/version.c.
// An absent revision compares like "0", as in dpkg.
func (v Version) Compare(o Version) int {
	switch {
	case v.Epoch < o.Epoch:
		return -1
	case v.Epoch > o.Epoch:
		return 1
	}
	if c := verrevcmp(v.Upstream, o.Upstream); c != 0 {
		return c
	}
	return verrevcmp(v.Revision, o.Revision)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isAlpha(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }
func isAlnum(c byte) bool { return isDigit(c) || isAlpha(c) }

// order is dpkg's character weight in the non-digit parts of a version: '~' before the end of the
// string, the end before letters, letters before everything else. Digits never reach it; 0 stands for
// the end of the string.
func order(s string, i int) int {
	if i >= len(s) {
		return 0
	}
	c := s[i]
	switch {
	case isDigit(c):
		return 0
	case isAlpha(c):
		return int(c)
	case c == '~':
		return -1
	default:
		return int(c) + 256
	}
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

// verrevcmp compares alternating non-digit and digit runs: non-digit runs character by character with
// order, digit runs numerically (leading zeros ignored, then longer wins, then the first difference).
func verrevcmp(a, b string) int {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		for (i < len(a) && !isDigit(a[i])) || (j < len(b) && !isDigit(b[j])) {
			ac, bc := order(a, i), order(b, j)
			if ac != bc {
				return sign(ac - bc)
			}
			i++
			j++
		}
		for i < len(a) && a[i] == '0' {
			i++
		}
		for j < len(b) && b[j] == '0' {
			j++
		}
		firstDiff := 0
		for i < len(a) && j < len(b) && isDigit(a[i]) && isDigit(b[j]) {
			if firstDiff == 0 {
				firstDiff = int(a[i]) - int(b[j])
			}
			i++
			j++
		}
		if i < len(a) && isDigit(a[i]) {
			return 1
		}
		if j < len(b) && isDigit(b[j]) {
			return -1
		}
		if firstDiff != 0 {
			return sign(firstDiff)
		}
	}
	return 0
}
