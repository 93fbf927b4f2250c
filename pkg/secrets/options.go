package secrets

import (
	"fmt"
	"path"
	"strings"

	"github.com/ingot-build/ingot/pkg/fault"
	"github.com/ingot-build/ingot/pkg/imageref"
)

// ErrInvalid is wrapped by every error about bad options: an allow entry without a reason, a bad glob,
// a rule without an ID or expression.
var ErrInvalid = fault.New(fault.Invalid, "secrets: invalid options")

// DefaultMaxFileSize is the size above which files are not read: secrets live in configuration and
// source files, and the big text files of an image are data and logs.
const DefaultMaxFileSize = 10 << 20

// Options tune a scan. The zero value scans with the default rules, size limit and skipped paths.
type Options struct {
	// Allow turns findings into waived ones, with the reason in the report.
	Allow []Allow
	// MaxFileSize skips larger files; 0 means DefaultMaxFileSize. Binaries are always skipped.
	MaxFileSize int64
	// Rules to apply; nil means DefaultRules().
	Rules []Rule
	// SkipPaths are globs of files never read; nil means DefaultSkipPaths(), an empty slice reads all.
	SkipPaths []string
	// Limits bound how much the image's layers may decompress to.
	Limits imageref.Limits
}

// Allow accepts findings: those of one rule, under one path glob, or both.
type Allow struct {
	// Rule is a rule ID, or "" for any rule.
	Rule string
	// Path is a glob on the image path (path.Match per segment, plus "**" for any number of
	// segments and "{a,b}" for either name), or "" for any path. Config findings have the paths "ENV:NAME", "LABEL:NAME",
	// "history[N]", "CMD" and "ENTRYPOINT".
	Path string
	// Reason is required; it shows up in the report.
	Reason string
}

// DefaultSkipPaths returns the files a scan does not read by default, because what they hold is
// public or not configuration, and they are where other scanners' false positives come from:
//
//   - documentation, manual pages, info pages and translations: prose and example configurations
//     full of sample passwords and tokens;
//   - public CA certificates and time zone data;
//   - the tests, fixtures, examples and documentation of third-party code (Python, Node, Ruby,
//     vendor and third_party trees, CPython's test suite), Python package metadata, the Go toolchain
//     and the whole Go module cache: all of it is published, and holds test keys and sample tokens by
//     design (a Go module cache easily holds hundreds).
//
// An application's own tests directory is still read: a real key left in /app/tests leaks as well as
// any other. Outside these paths, third-party code is still read by the rules for real credential
// formats.
func DefaultSkipPaths() []string {
	const (
		deps    = "{site-packages,dist-packages,node_modules,vendor,vendored,third_party,gems}"
		samples = "{test,tests,__tests__,testdata,test-data,test_data,fixtures,test-fixtures,testonly,examples,example,docs,doc}"
	)
	return []string{
		"**/share/{doc,man,info,locale,i18n,zoneinfo}/**",
		"usr/share/ca-certificates/**",
		"etc/ssl/certs/**",
		"**/" + deps + "/**/" + samples + "/**",
		"**/" + deps + "/**/*_test.*",
		"**/" + deps + "/**/test_*.py",
		"**/" + deps + "/**/*.test.*",
		"**/" + deps + "/**/*.spec.*",
		"**/lib/python*/test/**",
		"**/*.dist-info/**",
		"**/*.egg-info/**",
		"**/pkg/mod/**",
		"usr/local/go/**",
		"usr/lib/go-*/**",
	}
}

// Validate checks the options, naming the entry at fault.
func (o Options) Validate() error {
	for i, a := range o.Allow {
		switch {
		case strings.TrimSpace(a.Reason) == "":
			return fmt.Errorf("%w: allow[%d] (%s:%s) has no reason", ErrInvalid, i, a.Rule, a.Path)
		case a.Rule == "" && a.Path == "":
			return fmt.Errorf("%w: allow[%d] names neither a rule nor a path", ErrInvalid, i)
		}
		if err := checkGlob(a.Path); err != nil {
			return fmt.Errorf("%w: allow[%d]: %w", ErrInvalid, i, err)
		}
	}
	for i, p := range o.SkipPaths {
		if err := checkGlob(p); err != nil {
			return fmt.Errorf("%w: skip path %d: %w", ErrInvalid, i, err)
		}
	}
	if o.MaxFileSize < 0 {
		return fmt.Errorf("%w: negative MaxFileSize", ErrInvalid)
	}
	ids := map[string]bool{}
	for i, r := range o.Rules {
		switch {
		case r.ID == "" || r.Regex == nil:
			return fmt.Errorf("%w: rule %d needs an ID and an expression", ErrInvalid, i)
		case ids[r.ID]:
			return fmt.Errorf("%w: rule ID %q is used twice", ErrInvalid, r.ID)
		}
		ids[r.ID] = true
		for _, k := range r.Keywords {
			if k == "" || k != strings.ToLower(k) {
				return fmt.Errorf("%w: rule %s: keyword %q must be non-empty lower case", ErrInvalid, r.ID, k)
			}
		}
	}
	return nil
}

// Matches reports whether the entry accepts a finding of rule at path.
func (a Allow) Matches(rule, path string) bool {
	return (a.Rule == "" || a.Rule == rule) && (a.Path == "" || matchGlob(a.Path, path))
}

// checkGlob reports a malformed glob.
func checkGlob(pattern string) error {
	for _, seg := range strings.Split(strings.TrimPrefix(pattern, "/"), "/") {
		if _, err := path.Match(seg, ""); err != nil {
			return fmt.Errorf("glob %q: %w", pattern, err)
		}
	}
	return nil
}

// glob is a pattern split into segments once, for matching many paths.
type glob []segment

// segment is one part of a glob: "**", a set of literal alternatives ("{test,tests}" or a plain
// name, compared as strings), or a path.Match pattern.
type segment struct {
	any     bool
	alts    []string
	pattern string
}

func compileGlob(pattern string) glob {
	var g glob
	for _, s := range strings.Split(strings.TrimPrefix(pattern, "/"), "/") {
		switch {
		case s == "**":
			g = append(g, segment{any: true})
		case strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") && !strings.ContainsAny(s, "*?[\\"):
			g = append(g, segment{alts: strings.Split(s[1:len(s)-1], ",")})
		case !strings.ContainsAny(s, "*?[\\"):
			g = append(g, segment{alts: []string{s}})
		default:
			g = append(g, segment{pattern: s})
		}
	}
	return g
}

func (s segment) match(name string) bool {
	if s.alts != nil {
		for _, a := range s.alts {
			if a == name {
				return true
			}
		}
		return false
	}
	ok, _ := path.Match(s.pattern, name)
	return ok
}

// matchGlob matches a path against a glob where "*" stays within a segment, "**" spans any number
// of them and "{a,b}" is either name; a leading "/" on either is ignored.
func matchGlob(pattern, name string) bool {
	return compileGlob(pattern).match(splitPath(name))
}

func splitPath(name string) []string {
	return strings.Split(strings.TrimPrefix(name, "/"), "/")
}

func matchAny(gs []glob, segs []string) bool {
	for _, g := range gs {
		if g.match(segs) {
			return true
		}
	}
	return false
}

func (g glob) match(segs []string) bool {
	for len(g) > 0 {
		if g[0].any {
			for len(g) > 0 && g[0].any {
				g = g[1:]
			}
			if len(g) == 0 {
				return true
			}
			for i := range segs {
				if g.match(segs[i:]) {
					return true
				}
			}
			return false
		}
		if len(segs) == 0 || !g[0].match(segs[0]) {
			return false
		}
		g, segs = g[1:], segs[1:]
	}
	return len(segs) == 0
}
