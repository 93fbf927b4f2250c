package sbom

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"strings"
)

// schemas are CycloneDX's official JSON schemas, copied from the cyclonedx-go module (Apache-2.0).
// spdx.schema.json is the SPDX license and exception list CycloneDX validates license IDs against; we
// use it for SPDX documents too.
//
//go:embed schema/bom-1.6.schema.json schema/spdx.schema.json schema/jsf-0.82.schemax.json
var schemas embed.FS

// Schemas returns CycloneDX's official JSON schemas (bom-1.6, spdx and jsf-0.82) under schema/, for
// validating CycloneDX documents outside this package without linking a JSON schema validator into it.
func Schemas() fs.FS { return schemas }

// licenseList maps lower-cased SPDX license and exception IDs to their canonical spelling.
type licenseList map[string]string

func loadLicenseList() (licenseList, error) {
	b, err := schemas.ReadFile("schema/spdx.schema.json")
	if err != nil {
		return nil, fmt.Errorf("reading the SPDX license list: %w", err)
	}
	var s struct{ Enum []string }
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("reading the SPDX license list: %w", err)
	}
	l := make(licenseList, len(s.Enum))
	for _, id := range s.Enum {
		l[strings.ToLower(id)] = id
	}
	return l, nil
}

// expression checks a declared license against the SPDX expression grammar (SPDX 2.3 annex D) and
// the license list, and returns it in canonical form. single is true when it is one license ID
// (CycloneDX writes those as license.id, the rest as expression).
func (l licenseList) expression(s string) (expr string, single, ok bool) {
	toks := tokenize(s)
	if len(toks) == 0 {
		return "", false, false
	}
	p := exprParser{toks: toks, list: l}
	out, ok := p.or()
	if !ok || p.pos != len(toks) {
		return "", false, false
	}
	return out, len(toks) == 1 && !strings.HasPrefix(toks[0], "LicenseRef-") && !strings.HasPrefix(toks[0], "DocumentRef-"), true
}

// declared turns a package's licenses into one SPDX expression joined with AND. Alpine and some
// Python packages list several IDs separated by spaces ("GPL-2.0-only MIT"); each is taken as a
// license. ok is false when any of them is not a valid expression.
func (l licenseList) declared(lics []string) (string, bool) {
	var parts []string
	for _, s := range lics {
		if e, _, ok := l.expression(s); ok {
			parts = append(parts, e)
			continue
		}
		for _, f := range strings.Fields(s) {
			e, single, ok := l.expression(f)
			if !ok || !single {
				return "", false
			}
			parts = append(parts, e)
		}
	}
	switch len(parts) {
	case 0:
		return "", false
	case 1:
		return parts[0], true
	}
	for i, p := range parts {
		if strings.Contains(p, " ") && !enclosed(p) {
			parts[i] = "(" + p + ")"
		}
	}
	return strings.Join(parts, " AND "), true
}

// enclosed reports whether the whole expression is one parenthesised group.
func enclosed(e string) bool {
	if !strings.HasPrefix(e, "(") {
		return false
	}
	depth := 0
	for i := 0; i < len(e); i++ {
		switch e[i] {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i == len(e)-1
			}
		}
	}
	return false
}

func tokenize(s string) []string {
	var toks []string
	cur := strings.Builder{}
	flush := func() {
		if cur.Len() > 0 {
			toks = append(toks, cur.String())
			cur.Reset()
		}
	}
	for _, r := range s {
		switch r {
		case '(', ')':
			flush()
			toks = append(toks, string(r))
		case ' ', '\t', '\n', '\r':
			flush()
		default:
			cur.WriteRune(r)
		}
	}
	flush()
	return toks
}

type exprParser struct {
	toks []string
	pos  int
	list licenseList
}

func (p *exprParser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *exprParser) op(name string) bool {
	if t := p.peek(); t == name || t == strings.ToLower(name) {
		p.pos++
		return true
	}
	return false
}

func (p *exprParser) or() (string, bool) {
	left, ok := p.and()
	for ok && p.op("OR") {
		var right string
		right, ok = p.and()
		left += " OR " + right
	}
	return left, ok
}

func (p *exprParser) and() (string, bool) {
	left, ok := p.with()
	for ok && p.op("AND") {
		var right string
		right, ok = p.with()
		left += " AND " + right
	}
	return left, ok
}

func (p *exprParser) with() (string, bool) {
	left, ok := p.primary()
	if ok && p.op("WITH") {
		t := p.peek()
		exc, known := p.list[strings.ToLower(t)]
		if !known {
			return "", false
		}
		p.pos++
		left += " WITH " + exc
	}
	return left, ok
}

func (p *exprParser) primary() (string, bool) {
	t := p.peek()
	switch t {
	case "(":
		p.pos++
		inner, ok := p.or()
		if !ok || p.peek() != ")" {
			return "", false
		}
		p.pos++
		return "(" + inner + ")", true
	case "", ")":
		return "", false
	}
	p.pos++
	if ref, ok := licenseRef(t); ok {
		return ref, true
	}
	id, plus := strings.CutSuffix(t, "+")
	canon, ok := p.list[strings.ToLower(id)]
	if !ok {
		return "", false
	}
	if plus {
		canon += "+"
	}
	return canon, true
}

// licenseRef accepts LicenseRef-<idstring> and DocumentRef-<idstring>:LicenseRef-<idstring>.
func licenseRef(t string) (string, bool) {
	if doc, rest, ok := strings.Cut(t, ":"); ok {
		d, okd := strings.CutPrefix(doc, "DocumentRef-")
		if !okd || !idString(d) {
			return "", false
		}
		if _, ok := licenseRef(rest); !ok {
			return "", false
		}
		return t, true
	}
	r, ok := strings.CutPrefix(t, "LicenseRef-")
	return t, ok && idString(r)
}

// idString is SPDX's idstring: letters, digits, "-" and ".".
func idString(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isIDChar(s[i]) {
			return false
		}
	}
	return true
}

// isIDChar is SPDX's idstring alphabet: letters, digits, "-" and ".".
func isIDChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.'
}
