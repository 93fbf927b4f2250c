package policy

import (
	"fmt"
	"regexp"
	"strings"
)

// Glob matches names: "*" matches within one path component (no "/"), "**" across components, "?"
// one character other than "/"; everything else matches itself.
type Glob struct {
	pattern string
	re      *regexp.Regexp
}

// CompileGlob compiles a glob.
func CompileGlob(pattern string) (Glob, error) {
	if pattern == "" {
		return Glob{}, fmt.Errorf("an empty pattern")
	}
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; {
		case c == '*' && i+1 < len(pattern) && pattern[i+1] == '*':
			b.WriteString(".*")
			i++
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	if err != nil {
		return Glob{}, err
	}
	return Glob{pattern: pattern, re: re}, nil
}

// Match reports whether s matches the glob.
func (g Glob) Match(s string) bool { return g.re != nil && g.re.MatchString(s) }

func (g Glob) String() string { return g.pattern }

// ImagePattern matches images: a name glob (registry/repository), and optionally a tag glob after the
// last ":" of the last component. The registry part is normalised as images are (case, port 443,
// Docker Hub's aliases, library/ for a single Docker Hub name), so a pattern means the same images
// however either is spelled.
type ImagePattern struct {
	written string
	name    Glob
	tag     *Glob
}

// CompileImagePattern reads "REGISTRY/PATH[:TAG]" where each part may hold globs; the registry is
// required, so that no pattern silently means Docker Hub.
func CompileImagePattern(p string) (ImagePattern, error) {
	ip := ImagePattern{written: p}
	rest := p
	if strings.Contains(rest, "@") {
		return ip, fmt.Errorf("%q: a pattern matches names and tags, not digests", p)
	}
	var tag string
	if colon := strings.LastIndex(rest, ":"); colon > strings.LastIndex(rest, "/") {
		tag, rest = rest[colon+1:], rest[:colon]
	}
	slash := strings.Index(rest, "/")
	if slash <= 0 || slash == len(rest)-1 {
		return ip, fmt.Errorf("%q: want REGISTRY/REPOSITORY (globs allowed), e.g. registry.example.com/gold/**", p)
	}
	if first := rest[:slash]; !strings.ContainsAny(first, ".:*?") && first != "localhost" {
		return ip, fmt.Errorf("%q: %q is not a registry host: want REGISTRY/REPOSITORY, e.g. docker.io/%s", p, first, rest)
	}
	host, path := NormaliseRegistry(rest[:slash]), rest[slash+1:]
	if host == DockerHub && !strings.ContainsAny(path, "/*?") {
		path = "library/" + path
	}
	g, err := CompileGlob(host + "/" + path)
	if err != nil {
		return ip, fmt.Errorf("%q: %w", p, err)
	}
	ip.name = g
	if tag != "" {
		tg, err := CompileGlob(tag)
		if err != nil {
			return ip, fmt.Errorf("%q: %w", p, err)
		}
		ip.tag = &tg
	}
	return ip, nil
}

// Match reports whether the image matches: its name, and its tag when the pattern has one (an image
// named by digest only has no tag, and does not match a pattern with one).
func (p ImagePattern) Match(img Image) bool {
	if !p.name.Match(img.Name()) {
		return false
	}
	return p.tag == nil || (img.Tag != "" && p.tag.Match(img.Tag))
}

func (p ImagePattern) String() string { return p.written }
