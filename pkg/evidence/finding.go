package evidence

import (
	"fmt"
	"strings"
)

// Severity orders findings; the zero value is Unknown.
type Severity int

// Severities, lowest first.
const (
	SeverityUnknown Severity = iota
	SeverityNegligible
	SeverityLow
	SeverityMedium
	SeverityHigh
	SeverityCritical
)

var severityNames = [...]string{"unknown", "negligible", "low", "medium", "high", "critical"}

func (s Severity) String() string {
	if s < 0 || int(s) >= len(severityNames) {
		return "unknown"
	}
	return severityNames[s]
}

// Severities are every severity, lowest first (unknown is the zero value, below negligible): the names
// that flags taking a severity list come from here.
func Severities() []Severity {
	out := make([]Severity, len(severityNames))
	for i := range severityNames {
		out[i] = Severity(i)
	}
	return out
}

// ParseSeverity reads a severity name, case-insensitively ("moderate" is medium, "important" high).
func ParseSeverity(v string) (Severity, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "unknown", "":
		return SeverityUnknown, nil
	case "negligible", "none", "info":
		return SeverityNegligible, nil
	case "low":
		return SeverityLow, nil
	case "medium", "moderate":
		return SeverityMedium, nil
	case "high", "important":
		return SeverityHigh, nil
	case "critical":
		return SeverityCritical, nil
	}
	return SeverityUnknown, fmt.Errorf("unknown severity %q (want negligible, low, medium, high or critical)", v)
}

// MarshalText writes the name.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads the name.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	*s = v
	return err
}

// Kinds of finding.
const (
	KindVulnerability = "vulnerability"
	KindSecret        = "secret"
	KindRule          = "rule"
	KindTest          = "test"
)

// Statuses of a finding. Only StatusAffected (and StatusFailed for rules and tests) count against
// an image; the others are kept, with their reason, for the record.
const (
	StatusAffected    = "affected"
	StatusNotAffected = "not_affected" // VEX
	StatusFixed       = "fixed"        // VEX
	StatusWaived      = "waived"       // a rule waiver or secret allow-list entry, with a reason
	StatusFailed      = "failed"       // a rule or test that did not pass
	StatusPassed      = "passed"       // a rule or test that passed (kept so reports show coverage)
	StatusSkipped     = "skipped"
)

// Location is where in the image a finding was made.
type Location struct {
	Layer string `json:"layer,omitempty"` // layer diff ID
	Path  string `json:"path,omitempty"`  // file path, or "ENV:NAME", or "history[3]"
	Line  int    `json:"line,omitempty"`
}

// PackageRef names the package a vulnerability affects.
type PackageRef struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Type    string `json:"type,omitempty"`
	PURL    string `json:"purl,omitempty"`
	// Source is the package the advisory matched through (a Debian source package), when not Name.
	Source string `json:"source,omitempty"`
}

// CVSS is one scored vector.
type CVSS struct {
	Version string  `json:"version"` // "3.1", "4.0"
	Vector  string  `json:"vector"`
	Score   float64 `json:"score"`
}

// Finding is one fact against an image.
type Finding struct {
	Kind string `json:"kind"`
	// ID is the advisory (CVE-..., GHSA-..., GO-...), rule (INGOT-..., secret rule) or test name.
	ID       string   `json:"id"`
	Aliases  []string `json:"aliases,omitempty"`
	Severity Severity `json:"severity"`
	Status   string   `json:"status"`
	// Reason says why a status other than affected/failed applies: VEX justification, waiver reason.
	Reason      string      `json:"reason,omitempty"`
	Title       string      `json:"title,omitempty"`
	Description string      `json:"description,omitempty"`
	Package     *PackageRef `json:"package,omitempty"`
	// FixedVersion is the lowest version that fixes a vulnerability, when one exists.
	FixedVersion string     `json:"fixedVersion,omitempty"`
	CVSS         []CVSS     `json:"cvss,omitempty"`
	Locations    []Location `json:"locations,omitempty"`
	References   []string   `json:"references,omitempty"`
	// CIS maps a rule to the CIS Docker Benchmark recommendation, e.g. "4.1".
	CIS string `json:"cis,omitempty"`
	// Detail carries kind-specific data (a redacted secret, a test's output).
	Detail map[string]string `json:"detail,omitempty"`
}

// Counts reports whether the finding counts against the image.
func (f Finding) Counts() bool { return f.Status == StatusAffected || f.Status == StatusFailed }

// Report is the findings of one stage on one image.
type Report struct {
	Image    Image     `json:"image"`
	Tool     string    `json:"tool"` // "ingot scan", "ingot secrets", ...
	Findings []Finding `json:"findings"`
}

// Worst returns the highest severity among findings that count.
func (r Report) Worst() Severity {
	w := SeverityUnknown
	for _, f := range r.Findings {
		if f.Counts() && f.Severity > w {
			w = f.Severity
		}
	}
	return w
}

// AtLeast returns the findings that count with severity at or above min.
func (r Report) AtLeast(min Severity) []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.Counts() && f.Severity >= min {
			out = append(out, f)
		}
	}
	return out
}
