package vuln

import (
	"cmp"
	"errors"
	"fmt"
	"strings"
)

// ErrAPKVersion is wrapped by every error reading an Alpine package version.
var ErrAPKVersion = errors.New("vuln: invalid apk version")

// An apk version is digit{.digit}...{letter}{_suffix{number}}...{~hash}{-rN}, ordered as apk-tools'
// version.c does. It is read as a sequence of tokens; two versions compare token by token while the
// kinds agree, and when one runs out first the longer one is newer unless it continues with a
// pre-release suffix.

// apk token kinds, in the order apk-tools numbers them: where two versions first differ in kind, the
// one with the higher kind is the older (a version that ends is older than one that goes on with a
// revision, which is older than one that goes on with another number).
const (
	apkInitialDigit = iota
	apkDigit
	apkLetter
	apkSuffix
	apkSuffixNo
	apkCommitHash
	apkRevision
	apkEnd
	apkInvalid
)

// apk suffixes: pre-release ones sort before the version without a suffix, the others after it.
const (
	apkSufAlpha = iota
	apkSufBeta
	apkSufPre
	apkSufRC
	apkSufNone
	apkSufCVS
	apkSufSVN
	apkSufGit
	apkSufHg
	apkSufP
)

// apkSuffixValue returns the suffix named s.
func apkSuffixValue(s string) (int, bool) {
	switch s {
	case "alpha":
		return apkSufAlpha, true
	case "beta":
		return apkSufBeta, true
	case "pre":
		return apkSufPre, true
	case "rc":
		return apkSufRC, true
	case "cvs":
		return apkSufCVS, true
	case "svn":
		return apkSufSVN, true
	case "git":
		return apkSufGit, true
	case "hg":
		return apkSufHg, true
	case "p":
		return apkSufP, true
	}
	return 0, false
}

type apkToken struct {
	kind   int
	text   string // the token's characters (digits, letter, suffix name or hash)
	number uint64 // digits' value, saturating
	suffix int
}

// apkVersion is a version string that passed apk's validation.
type apkVersion string

func parseAPK(s string) (version, error) {
	if s == "" {
		return nil, fmt.Errorf("%w: empty", ErrAPKVersion)
	}
	rest := s
	t := apkFirst(&rest)
	for t.kind < apkEnd {
		t = apkNext(t, &rest)
	}
	if t.kind != apkEnd {
		return nil, fmt.Errorf("%w %q", ErrAPKVersion, s)
	}
	return apkVersion(s), nil
}

func apkDigits(t *apkToken, rest *string) {
	i := 0
	var n uint64
	for i < len(*rest) && isDigitByte((*rest)[i]) {
		if n < 1<<60 {
			n = n*10 + uint64((*rest)[i]-'0')
		}
		i++
	}
	t.text, t.number = (*rest)[:i], n
	*rest = (*rest)[i:]
	if i == 0 {
		t.kind = apkInvalid
	}
}

func apkFirst(rest *string) apkToken {
	t := apkToken{kind: apkInitialDigit}
	apkDigits(&t, rest)
	return t
}

// apkNext reads the token after prev, checking that its kind may follow prev's.
func apkNext(prev apkToken, rest *string) apkToken {
	s := *rest
	if s == "" {
		return apkToken{kind: apkEnd}
	}
	t := apkToken{kind: apkInvalid}
	switch c := s[0]; {
	case c >= 'a' && c <= 'z':
		if prev.kind > apkDigit {
			return t
		}
		t.kind, t.text = apkLetter, s[:1]
		*rest = s[1:]
	case c == '.' || isDigitByte(c):
		if c == '.' {
			if prev.kind > apkDigit {
				return t
			}
			*rest = s[1:]
		}
		switch prev.kind {
		case apkInitialDigit, apkDigit:
			t.kind = apkDigit
		case apkSuffix:
			t.kind = apkSuffixNo
		default:
			return t
		}
		apkDigits(&t, rest)
	case c == '_':
		if prev.kind > apkSuffixNo {
			return t
		}
		i := 1
		for i < len(s) && s[i] >= 'a' && s[i] <= 'z' {
			i++
		}
		suf, ok := apkSuffixValue(s[1:i])
		if !ok {
			return t
		}
		t.kind, t.text, t.suffix = apkSuffix, s[1:i], suf
		*rest = s[i:]
	case c == '~':
		if prev.kind >= apkCommitHash {
			return t
		}
		i := 1
		for i < len(s) && isHexByte(s[i]) {
			i++
		}
		if i == 1 {
			return t
		}
		t.kind, t.text = apkCommitHash, s[1:i]
		*rest = s[i:]
	case c == '-':
		if prev.kind >= apkRevision || len(s) < 2 || s[1] != 'r' {
			return t
		}
		*rest = s[2:]
		t.kind = apkRevision
		apkDigits(&t, rest)
	}
	return t
}

func isDigitByte(c byte) bool { return c >= '0' && c <= '9' }
func isHexByte(c byte) bool {
	return isDigitByte(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// apkTokenCompare compares two tokens of the same kind.
func apkTokenCompare(a, b apkToken) int {
	switch a.kind {
	case apkDigit:
		// A component with a leading zero compares as a string (1.01 < 1.1), as in Gentoo.
		if a.text[0] == '0' || b.text[0] == '0' {
			return strings.Compare(a.text, b.text)
		}
		return cmp.Compare(a.number, b.number)
	case apkInitialDigit, apkSuffixNo, apkRevision:
		return cmp.Compare(a.number, b.number)
	case apkLetter:
		return strings.Compare(a.text, b.text)
	case apkSuffix:
		return cmp.Compare(a.suffix, b.suffix)
	default:
		return strings.Compare(a.text, b.text)
	}
}

// compareAPK orders two apk version strings, valid or not, exactly as apk_version_compare does.
func compareAPK(a, b string) int {
	ta, tb := apkFirst(&a), apkFirst(&b)
	for ta.kind == tb.kind && ta.kind < apkEnd {
		if c := apkTokenCompare(ta, tb); c != 0 {
			return c
		}
		ta, tb = apkNext(ta, &a), apkNext(tb, &b)
	}
	switch {
	case ta.kind == tb.kind:
		return 0
	case ta.kind == apkSuffix && ta.suffix < apkSufNone:
		return -1
	case tb.kind == apkSuffix && tb.suffix < apkSufNone:
		return 1
	case ta.kind > tb.kind:
		return -1
	default:
		return 1
	}
}

func (a apkVersion) compare(o version) int { return compareAPK(string(a), string(o.(apkVersion))) }
