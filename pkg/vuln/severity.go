package vuln

import (
	"strings"

	gocvss20 "github.com/pandatix/go-cvss/20"
	gocvss30 "github.com/pandatix/go-cvss/30"
	gocvss31 "github.com/pandatix/go-cvss/31"
	gocvss40 "github.com/pandatix/go-cvss/40"

	"github.com/ingot-build/ingot/pkg/evidence"
)

// OSV severity types.
const (
	severityCVSSv2 = "CVSS_V2"
	severityCVSSv3 = "CVSS_V3"
	severityCVSSv4 = "CVSS_V4"
	severityUbuntu = "Ubuntu"
)

// severityOf rates one affected entry of a record, computed once at import so matching only copies
// the result. The rating comes from the highest CVSS v3.x or v4.0 base score of the entry and the
// record (the worse reading wins when sources disagree); without one, from the database's own rating
// (database_specific or ecosystem_specific "severity", Ubuntu's priority, Debian's urgency); then from
// a CVSS v2 score; else it is unknown. Every vector that parses is kept with its score.
func severityOf(r *osvRecord, a *osvAffected) (evidence.Severity, []evidence.CVSS) {
	rt := rate(r, a)
	return rt.severity, rt.cvss
}

// rating is severityOf's result with what decided it.
type rating struct {
	severity evidence.Severity
	cvss     []evidence.CVSS
	// basis is the vector or the database's rating that gave severity, "" when unknown.
	basis string
}

func rate(r *osvRecord, a *osvAffected) rating {
	var scores []evidence.CVSS
	var dbRating string
	seen := map[string]bool{}
	for _, list := range [][]osvSeverity{a.Severity, r.Severity} {
		for _, s := range list {
			vector := strings.TrimSpace(s.Score)
			if seen[s.Type+vector] {
				continue
			}
			seen[s.Type+vector] = true
			switch s.Type {
			case severityUbuntu:
				if dbRating == "" {
					dbRating = vector
				}
			default:
				if c, ok := scoreVector(s.Type, vector); ok {
					scores = append(scores, c)
				}
			}
		}
	}
	var best, bestV2 *evidence.CVSS
	for i, c := range scores {
		switch {
		case c.Version == "2.0":
			if bestV2 == nil || c.Score > bestV2.Score {
				bestV2 = &scores[i]
			}
		case best == nil || c.Score > best.Score:
			best = &scores[i]
		}
	}
	if best != nil {
		return rating{ratingOf(best.Score), scores, best.Vector}
	}
	for _, v := range []string{
		specificString(a.DatabaseSpecific, "severity"),
		specificString(a.EcosystemSpecific, "severity"),
		specificString(r.DatabaseSpecific, "severity"),
		dbRating,
		specificString(a.EcosystemSpecific, "urgency"),
		specificString(a.DatabaseSpecific, "urgency"),
		specificString(r.DatabaseSpecific, "urgency"),
	} {
		if s, ok := namedSeverity(v); ok {
			return rating{s, scores, "rated " + strings.TrimSpace(v)}
		}
	}
	if bestV2 != nil {
		return rating{ratingOf(bestV2.Score), scores, bestV2.Vector}
	}
	return rating{evidence.SeverityUnknown, scores, ""}
}

// recordRating is a record's own rating, for the records that alias it: the worst of its affected
// entries' (a record without package entries, such as a CVE record of repository ranges, is rated by
// its top-level severity), with what decided it.
func recordRating(r *osvRecord) rating {
	entries := r.Affected
	if len(entries) == 0 {
		entries = []osvAffected{{}}
	}
	var out rating
	for i := range entries {
		if rt := rate(r, &entries[i]); rt.severity > out.severity {
			out = rt
		}
	}
	return out
}

// scoreVector computes the base score of a CVSS vector of the given OSV type.
func scoreVector(typ, vector string) (evidence.CVSS, bool) {
	switch typ {
	case severityCVSSv3:
		switch {
		case strings.HasPrefix(vector, "CVSS:3.1/"):
			v, err := gocvss31.ParseVector(vector)
			if err != nil {
				return evidence.CVSS{}, false
			}
			return evidence.CVSS{Version: "3.1", Vector: vector, Score: v.BaseScore()}, true
		case strings.HasPrefix(vector, "CVSS:3.0/"):
			v, err := gocvss30.ParseVector(vector)
			if err != nil {
				return evidence.CVSS{}, false
			}
			return evidence.CVSS{Version: "3.0", Vector: vector, Score: v.BaseScore()}, true
		}
	case severityCVSSv4:
		v, err := gocvss40.ParseVector(vector)
		if err != nil {
			return evidence.CVSS{}, false
		}
		return evidence.CVSS{Version: "4.0", Vector: vector, Score: v.Score()}, true
	case severityCVSSv2:
		v, err := gocvss20.ParseVector(strings.TrimSuffix(strings.TrimPrefix(vector, "("), ")"))
		if err != nil {
			return evidence.CVSS{}, false
		}
		return evidence.CVSS{Version: "2.0", Vector: vector, Score: v.BaseScore()}, true
	}
	return evidence.CVSS{}, false
}

// ratingOf maps a base score to the CVSS qualitative rating (v3.x and v4.0 use the same bands).
func ratingOf(score float64) evidence.Severity {
	switch {
	case score >= 9:
		return evidence.SeverityCritical
	case score >= 7:
		return evidence.SeverityHigh
	case score >= 4:
		return evidence.SeverityMedium
	case score >= 0.1:
		return evidence.SeverityLow
	}
	return evidence.SeverityNegligible
}

// namedSeverity reads a database's own rating: GitHub's "MODERATE", Ubuntu's "medium", Debian's
// urgency ("unimportant", "low*", "medium (security)", "not yet assigned").
func namedSeverity(v string) (evidence.Severity, bool) {
	v = strings.ToLower(strings.TrimSpace(v))
	if i := strings.IndexAny(v, " (*"); i >= 0 {
		v = v[:i]
	}
	switch v {
	case "", "unknown", "not":
		return evidence.SeverityUnknown, false
	case "unimportant":
		return evidence.SeverityNegligible, true
	}
	s, err := evidence.ParseSeverity(v)
	if err != nil {
		return evidence.SeverityUnknown, false
	}
	return s, true
}
