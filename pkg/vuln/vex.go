package vuln

import (
	"fmt"
	"strings"

	"github.com/openvex/go-vex/pkg/vex"

	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/fault"
)

// ErrVEX is wrapped by every error about a VEX document given to LoadVEX: missing, unreadable, or
// not OpenVEX.
var ErrVEX = fault.New(fault.Invalid, "vuln: invalid VEX document")

// LoadVEX reads OpenVEX documents (JSON or YAML).
func LoadVEX(paths ...string) ([]*vex.VEX, error) {
	var docs []*vex.VEX
	for _, p := range paths {
		d, err := vex.Open(p)
		if err != nil {
			return nil, fmt.Errorf("%w %s: %w", ErrVEX, p, err)
		}
		docs = append(docs, d)
	}
	return docs, nil
}

// ApplyVEX returns the findings with the latest matching OpenVEX statement applied: not_affected and
// fixed change the status, keeping the justification (and impact statement) as the reason;
// under_investigation and affected leave the finding counting, noting the statement.
//
// A statement matches a finding when it names the finding's ID or one of its aliases, and either the
// package itself (its purl) is a product, or the image is (by digest, reference, or an oci purl) with
// the package among its subcomponents or no subcomponents at all.
func ApplyVEX(findings []evidence.Finding, docs []*vex.VEX, img evidence.Image) []evidence.Finding {
	if len(docs) == 0 {
		return findings
	}
	products := imageProducts(img)
	out := make([]evidence.Finding, len(findings))
	for i, f := range findings {
		out[i] = f
		if f.Kind != evidence.KindVulnerability || f.Package == nil {
			continue
		}
		st := latestStatement(docs, f, products)
		if st == nil {
			continue
		}
		switch st.Status {
		case vex.StatusNotAffected:
			out[i].Status = evidence.StatusNotAffected
			out[i].Reason = joinReason(string(st.Justification), st.ImpactStatement)
		case vex.StatusFixed:
			out[i].Status = evidence.StatusFixed
			out[i].Reason = joinReason("fixed", st.StatusNotes)
		default:
			out[i].Reason = joinReason("vex: "+string(st.Status), st.StatusNotes)
		}
	}
	return out
}

func latestStatement(docs []*vex.VEX, f evidence.Finding, products []string) *vex.Statement {
	ids := append([]string{f.ID}, f.Aliases...)
	var best *vex.Statement
	for _, d := range docs {
		for _, id := range ids {
			var matches []vex.Statement
			if f.Package.PURL != "" {
				matches = append(matches, d.Matches(id, f.Package.PURL, nil)...)
			}
			for _, p := range products {
				matches = append(matches, d.Matches(id, p, []string{f.Package.PURL})...)
			}
			for i := range matches {
				s := &matches[i]
				if best == nil || newerStatement(s, best, d) {
					best = s
				}
			}
		}
	}
	return best
}

// newerStatement prefers the statement with the later timestamp (its own, else its document's).
func newerStatement(a, b *vex.Statement, doc *vex.VEX) bool {
	at, bt := a.Timestamp, b.Timestamp
	if at == nil {
		at = doc.Timestamp
	}
	if bt == nil || at == nil {
		return bt == nil && at != nil
	}
	return at.After(*bt)
}

func imageProducts(img evidence.Image) []string {
	var ps []string
	if img.Digest != "" {
		ps = append(ps, img.Digest)
		name := img.Ref
		if i := strings.LastIndexAny(name, "/"); i >= 0 {
			name = name[i+1:]
		}
		if i := strings.IndexAny(name, ":@"); i >= 0 {
			name = name[:i]
		}
		if name != "" {
			ps = append(ps, "pkg:oci/"+name+"@"+strings.Replace(img.Digest, ":", "%3A", 1))
		}
	}
	if img.Ref != "" {
		ps = append(ps, img.Ref)
	}
	return ps
}

func joinReason(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + ": " + b
}
