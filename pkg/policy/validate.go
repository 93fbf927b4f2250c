package policy

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/ingot-build/ingot/pkg/attest"
	"github.com/ingot-build/ingot/pkg/sign"
)

// FieldError names the field that is wrong and why.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Unwrap lets errors.Is(err, ErrInvalid) hold.
func (e *FieldError) Unwrap() error { return ErrInvalid }

var policyName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$`) })

// compiled is the policy ready to evaluate: globs, keys and conditions.
type compiled struct {
	include, exclude []Glob
	registries       []Glob
	rules            []*compiledRule
}

type compiledRule struct {
	id       string // policy/rule index: the cache key of its registry verdicts
	rule     *Rule
	patterns []ImagePattern
	// sigKeys is nil without a signature requirement.
	sigKeys    *sign.Keys
	sigNames   []string
	sigFormats sign.Format
	atts       []compiledAttestation
	// attKeys are the keys of every attestation requirement: the attestations are fetched once for all.
	attKeys  *sign.Keys
	attTypes []string
	// keyText names the policy's keys in messages, where pkg/sign names them by hint.
	keyText *strings.Replacer
}

type compiledAttestation struct {
	req       *AttestationRequirement
	uri       string
	keyHints  []string
	keyNames  []string
	condition *Condition
}

// Validate checks every field, reports all problems at once (each naming its field), loads the keys
// and compiles the patterns and conditions.
func (p *Policy) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)})
	}
	c := &compiled{}
	if !policyName().MatchString(p.Name) {
		bad("name", "%q: want lower case letters, digits, '-' and '.', at most 63 characters", p.Name)
	}
	if !slices.Contains(Modes(), p.Mode) {
		bad("mode", "%q: want enforce, warn or audit", p.Mode)
	}
	if p.Unmatched != Deny && p.Unmatched != Allow {
		bad("unmatched", "%q: want deny or allow", p.Unmatched)
	}
	globs := func(field string, patterns []string, normalise func(string) string) []Glob {
		var out []Glob
		for i, s := range patterns {
			g, err := CompileGlob(normalise(s))
			if err != nil {
				bad(fmt.Sprintf("%s[%d]", field, i), "%v", err)
				continue
			}
			out = append(out, g)
		}
		return out
	}
	same := func(s string) string { return s }
	if p.Namespaces != nil {
		c.include = globs("namespaces.include", p.Namespaces.Include, same)
		c.exclude = globs("namespaces.exclude", p.Namespaces.Exclude, same)
	}
	c.registries = globs("registries", p.Registries, NormaliseRegistry)

	keys := map[string]sign.Verifier{}
	seen := map[string]bool{}
	keysOK := true
	for i, k := range p.Keys {
		field := fmt.Sprintf("keys[%d]", i)
		switch {
		case k.Name == "":
			bad(field+".name", "required")
			keysOK = false
		case seen[k.Name]:
			bad(field+".name", "%q is given twice", k.Name)
			keysOK = false
		}
		seen[k.Name] = true
		if (k.File == "") == (k.PEM == "") {
			bad(field, "give exactly one of file and pem")
			keysOK = false
		}
	}
	if keysOK {
		var err error
		if keys, err = p.keyVerifiers(); err != nil {
			errs = append(errs, err)
		}
	}
	hints := map[string]string{}
	for n, v := range keys {
		h, err := sign.KeyHint(v.PublicKey())
		if err != nil {
			bad("keys", "key %q: %v", n, err)
		}
		hints[n] = h
	}
	keyset := func(field string, names []string) (*sign.Keys, []string) {
		var vs []sign.Verifier
		var hs []string
		for i, n := range names {
			v, ok := keys[n]
			if !ok {
				if seen[n] {
					continue // its own error was reported
				}
				bad(fmt.Sprintf("%s[%d]", field, i), "no key named %q in keys", n)
				continue
			}
			vs = append(vs, v)
			hs = append(hs, hints[n])
		}
		if len(vs) == 0 || len(vs) != len(names) {
			return nil, nil
		}
		k, err := sign.NewKeys(vs...)
		if err != nil {
			bad(field, "%v", err)
			return nil, nil
		}
		return k, hs
	}

	var pairs []string
	for n, h := range hints {
		pairs = append(pairs, h, fmt.Sprintf("%q (%s)", n, h))
	}
	keyText := strings.NewReplacer(pairs...)

	if len(p.Rules) == 0 {
		bad("rules", "at least one rule is required")
	}
	for i := range p.Rules {
		r := &p.Rules[i]
		field := fmt.Sprintf("rules[%d]", i)
		cr := &compiledRule{id: fmt.Sprintf("%s/%d", p.Name, i), rule: r, keyText: keyText}
		if len(r.Images) == 0 {
			bad(field+".images", "at least one image pattern is required")
		}
		for j, s := range r.Images {
			ip, err := CompileImagePattern(s)
			if err != nil {
				bad(fmt.Sprintf("%s.images[%d]", field, j), "%v", err)
				continue
			}
			cr.patterns = append(cr.patterns, ip)
		}
		if r.Signature != nil {
			if len(r.Signature.Keys) == 0 {
				bad(field+".signature.keys", "at least one key is required")
			}
			cr.sigKeys, _ = keyset(field+".signature.keys", r.Signature.Keys)
			cr.sigNames = r.Signature.Keys
			f, err := sign.ParseFormat(r.Signature.Formats)
			if err != nil {
				bad(field+".signature.formats", "%v", err)
			}
			cr.sigFormats = f
		}
		var attVerifiers []string
		for j := range r.Attestations {
			a := &r.Attestations[j]
			af := fmt.Sprintf("%s.attestations[%d]", field, j)
			uri, err := attest.ResolveType(a.Type)
			if err != nil {
				bad(af+".type", "%v", err)
			}
			if slices.ContainsFunc(cr.atts, func(o compiledAttestation) bool { return o.uri == uri }) {
				bad(af+".type", "%s is required twice in one rule: put both conditions in one (with &&)", a.Type)
			}
			ca := compiledAttestation{req: a, uri: uri, keyNames: a.Keys}
			if len(a.Keys) == 0 {
				bad(af+".keys", "no keys, and no signature requirement to take them from")
			} else if _, hs := keyset(af+".keys", a.Keys); hs != nil {
				ca.keyHints = hs
				for _, n := range a.Keys {
					if !slices.Contains(attVerifiers, n) {
						attVerifiers = append(attVerifiers, n)
					}
				}
			}
			if strings.TrimSpace(a.Condition) != "" {
				cond, err := CompileCondition(a.Condition)
				if err != nil {
					bad(af+".condition", "%v", err)
				}
				ca.condition = cond
			}
			cr.atts = append(cr.atts, ca)
			cr.attTypes = append(cr.attTypes, uri)
		}
		if len(attVerifiers) > 0 {
			cr.attKeys, _ = keyset(field+".attestations", attVerifiers)
		}
		if r.Catalog != nil && r.Catalog.Image != "" && !pathComponent().MatchString(r.Catalog.Image) {
			bad(field+".catalog.image", "%q is not an image name", r.Catalog.Image)
		}
		c.rules = append(c.rules, cr)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	p.compiled = c
	return nil
}
