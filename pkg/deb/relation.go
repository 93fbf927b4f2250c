package deb

import (
	"errors"
	"fmt"
	"strings"
)

// ErrRelation is wrapped by every relationship-field syntax error.
var ErrRelation = errors.New("deb: invalid relationship")

// Op is a version relation operator.
type Op string

// The version relation operators of deb-control(5).
const (
	OpLess         Op = "<<"
	OpLessEqual    Op = "<="
	OpEqual        Op = "="
	OpGreaterEqual Op = ">="
	OpGreater      Op = ">>"
)

// Relation is one package in a relationship field such as Depends, e.g. "libc6:any (>= 2.36) [amd64]".
type Relation struct {
	Name     string
	ArchQual string   // ":any", ":native", ":amd64" suffix without the colon, "" if none
	Archs    []string // "[amd64 !i386]" restriction list as written, nil if none
	Op       Op       // "" when unversioned
	Version  Version
}

// SatisfiedBy reports whether version v meets the relation's version constraint; an unversioned
// relation is satisfied by any version.
func (r Relation) SatisfiedBy(v Version) bool {
	if r.Op == "" {
		return true
	}
	c := v.Compare(r.Version)
	switch r.Op {
	case OpLess:
		return c < 0
	case OpLessEqual:
		return c <= 0
	case OpEqual:
		return c == 0
	case OpGreaterEqual:
		return c >= 0
	case OpGreater:
		return c > 0
	}
	return false
}

// String formats r as it appears in a control file, e.g. "libc6 (>= 2.36)".
func (r Relation) String() string {
	var b strings.Builder
	r.writeTo(&b)
	return b.String()
}

func (r Relation) writeTo(b *strings.Builder) {
	b.WriteString(r.Name)
	if r.ArchQual != "" {
		b.WriteByte(':')
		b.WriteString(r.ArchQual)
	}
	if r.Op != "" {
		b.WriteString(" (")
		b.WriteString(string(r.Op))
		b.WriteByte(' ')
		b.WriteString(r.Version.String())
		b.WriteByte(')')
	}
	if r.Archs != nil {
		b.WriteString(" [")
		b.WriteString(strings.Join(r.Archs, " "))
		b.WriteByte(']')
	}
}

// Alternatives is one comma-separated element of a relationship field: relations joined by "|", any of
// which satisfies it.
type Alternatives []Relation

// String formats a as "a | b (>= 1)".
func (a Alternatives) String() string {
	var b strings.Builder
	for i, r := range a {
		if i > 0 {
			b.WriteString(" | ")
		}
		r.writeTo(&b)
	}
	return b.String()
}

// ParseRelations parses a relationship field (Depends, Pre-Depends, Provides, Conflicts, Breaks...).
// Whitespace, including the newlines of folded fields, is insignificant; empty elements between commas
// are skipped; build-profile restrictions ("<!nocheck>") are parsed and dropped because they never
// apply to binary packages. An empty field gives nil, nil.
func ParseRelations(s string) ([]Alternatives, error) {
	var out []Alternatives
	for elem := range strings.SplitSeq(s, ",") {
		if isSpaceOnly(elem) {
			continue
		}
		var alts Alternatives
		for alt := range strings.SplitSeq(elem, "|") {
			r, err := parseRelation(alt)
			if err != nil {
				return nil, fmt.Errorf("parsing relation %q: %w", strings.TrimSpace(elem), err)
			}
			alts = append(alts, r)
		}
		out = append(out, alts)
	}
	return out, nil
}

func isSpaceOnly(s string) bool { return strings.TrimSpace(s) == "" }

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// relScanner walks one relation, skipping whitespace between tokens.
type relScanner struct {
	s string
	i int
}

func (p *relScanner) skip() {
	for p.i < len(p.s) && isSpace(p.s[p.i]) {
		p.i++
	}
}

func (p *relScanner) peek() byte {
	p.skip()
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

// until returns the text up to (not including) the byte end, and consumes end.
func (p *relScanner) until(end byte, what string) (string, error) {
	j := strings.IndexByte(p.s[p.i:], end)
	if j < 0 {
		return "", fmt.Errorf("%w: unterminated %s", ErrRelation, what)
	}
	t := p.s[p.i : p.i+j]
	p.i += j + 1
	return t, nil
}

func validPackageName(s string) bool {
	if s == "" || !isAlnum(s[0]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '+' && c != '-' && c != '.' && c != '_' {
			return false
		}
	}
	return true
}

func validArchName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

func parseRelation(s string) (Relation, error) {
	p := &relScanner{s: s}
	var r Relation
	p.skip()
	start := p.i
	for p.i < len(s) && !isSpace(s[p.i]) && !strings.ContainsRune("()[]<>:", rune(s[p.i])) {
		p.i++
	}
	r.Name = s[start:p.i]
	if r.Name == "" {
		return Relation{}, fmt.Errorf("%w: missing package name", ErrRelation)
	}
	if !validPackageName(r.Name) {
		return Relation{}, fmt.Errorf("%w: invalid package name %q", ErrRelation, r.Name)
	}
	if p.i < len(s) && s[p.i] == ':' {
		p.i++
		start = p.i
		for p.i < len(s) && (isAlnum(s[p.i]) || s[p.i] == '-' || s[p.i] == '_') {
			p.i++
		}
		r.ArchQual = s[start:p.i]
		if r.ArchQual == "" {
			return Relation{}, fmt.Errorf("%w: empty architecture qualifier after %q", ErrRelation, r.Name)
		}
	}
	if p.peek() == '(' {
		p.i++
		p.skip()
		start = p.i
		for p.i < len(s) && strings.IndexByte("<>=", s[p.i]) >= 0 {
			p.i++
		}
		switch op := s[start:p.i]; op {
		case "<<", "<=", "=", ">=", ">>":
			r.Op = Op(op)
		case "<":
			r.Op = OpLessEqual // obsolete spelling, meaning <=
		case ">":
			r.Op = OpGreaterEqual // obsolete spelling, meaning >=
		default:
			return Relation{}, fmt.Errorf("%w: bad operator %q for %s", ErrRelation, op, r.Name)
		}
		vs, err := p.until(')', "version constraint")
		if err != nil {
			return Relation{}, err
		}
		if r.Version, err = ParseVersion(vs); err != nil {
			return Relation{}, fmt.Errorf("%w: version of %s: %w", ErrRelation, r.Name, err)
		}
	}
	if p.peek() == '[' {
		p.i++
		list, err := p.until(']', "architecture list")
		if err != nil {
			return Relation{}, err
		}
		r.Archs = strings.Fields(list)
		if len(r.Archs) == 0 {
			return Relation{}, fmt.Errorf("%w: empty architecture list for %s", ErrRelation, r.Name)
		}
		for _, a := range r.Archs {
			if !validArchName(strings.TrimPrefix(a, "!")) {
				return Relation{}, fmt.Errorf("%w: invalid architecture %q for %s", ErrRelation, a, r.Name)
			}
		}
	}
	for p.peek() == '<' {
		p.i++
		if _, err := p.until('>', "build profile"); err != nil {
			return Relation{}, err
		}
	}
	if p.peek() != 0 {
		return Relation{}, fmt.Errorf("%w: unexpected %q after %s", ErrRelation, s[p.i:], r.Name)
	}
	return r, nil
}
