package vuln

import (
	"math"
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
	best := -1.0
	bestV2 := -1.0
	for _, c := range scores {
		if c.Version == "2.0" {
			bestV2 = math.Max(bestV2, c.Score)
		} else {
			best = math.Max(best, c.Score)
		}
	}
	if best >= 0 {
		return ratingOf(best), scores
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
			return s, scores
		}
	}
	if bestV2 >= 0 {
		return ratingOf(bestV2), scores
	}
	return evidence.SeverityUnknown, scores
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
