package evidence

import (
	"fmt"
	"strings"
	"time"
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

// Levels returns the severity names a user gives a gate (--fail-on, --unknown-as, evidence.fail-on,
// evidence.unknown-as), lowest first.
func Levels() []string { return append([]string(nil), severityNames[:]...) }

// ParseLevel reads a level a user gives a gate: one of Levels, case-insensitively. Unlike
// ParseSeverity, which reads the ratings of vulnerability databases, it takes no synonyms: "none"
// means a disabled gate to --fail-on, not negligible, and a typo must not pass as a level.
func ParseLevel(v string) (Severity, error) {
	for i, n := range severityNames {
		if strings.EqualFold(strings.TrimSpace(v), n) {
			return Severity(i), nil
		}
	}
	return SeverityUnknown, fmt.Errorf("%q is not a level (want %s)", v, strings.Join(Levels(), ", "))
}

// ParseFailOn reads a fail-on threshold: a level, or "none", which disables the gate (nil). "unknown"
// is the lowest level: every finding that counts reaches it, whatever its severity.
func ParseFailOn(v string) (*Severity, error) {
	if strings.EqualFold(strings.TrimSpace(v), "none") {
		return nil, nil
	}
	s, err := ParseLevel(v)
	if err != nil {
		return nil, fmt.Errorf("%q is not a level (want none, %s)", v, strings.Join(Levels(), ", "))
	}
	return &s, nil
}

// DefaultUnknownAs is the level a gate counts a finding of unknown severity as unless told otherwise:
// an advisory nobody rated is not known to be harmless, so it fails the usual thresholds (high and
// below) rather than slipping under every one of them.
const DefaultUnknownAs = SeverityHigh

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
	// SeveritySource says where Severity came from when the finding's own records carry no rating:
	// the aliased record that rated it, and how ("GHSA-xxxx-xxxx-xxxx (CVSS:3.1/AV:N/...)").
	SeveritySource string `json:"severitySource,omitempty"`
	// FixedVersion is the lowest version that fixes a vulnerability, when one exists.
	FixedVersion string `json:"fixedVersion,omitempty"`
	// Published is when the earliest of a vulnerability's advisories was published (its modified time
	// when it says nothing else), when known: what patch SLAs count from when ingot never saw the
	// fixed version in a repository.
	Published  time.Time  `json:"published,omitzero"`
	CVSS       []CVSS     `json:"cvss,omitempty"`
	Locations  []Location `json:"locations,omitempty"`
	References []string   `json:"references,omitempty"`
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
	// UnknownAs is the level the report's gate counts a finding of unknown severity as (Level, AtLeast,
	// Worst); the findings keep their own severity. Unknown (the zero value) maps nothing.
	UnknownAs Severity `json:"unknownAs,omitzero"`
	// Coverage says, for a vulnerability scan, what data each ecosystem of the inventory was checked
	// against, and which were not checked at all; nil for the other stages.
	Coverage []Coverage `json:"coverage,omitempty"`
}

// Level is the severity a gate counts f at: its own, or UnknownAs when its own is unknown.
func (r Report) Level(f Finding) Severity {
	if f.Severity == SeverityUnknown {
		return r.UnknownAs
	}
	return f.Severity
}

// Worst returns the highest level (see Level) among findings that count.
func (r Report) Worst() Severity {
	w := SeverityUnknown
	for _, f := range r.Findings {
		if l := r.Level(f); f.Counts() && l > w {
			w = l
		}
	}
	return w
}

// AtLeast returns the findings that count with a level (see Level) at or above min. AtLeast(unknown)
// is every finding that counts.
func (r Report) AtLeast(min Severity) []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.Counts() && r.Level(f) >= min {
			out = append(out, f)
		}
	}
	return out
}

// UnknownCounted is the number of counting findings of unknown severity that a gate counts at
// UnknownAs; zero when UnknownAs maps nothing.
func (r Report) UnknownCounted() int {
	if r.UnknownAs == SeverityUnknown {
		return 0
	}
	n := 0
	for _, f := range r.Findings {
		if f.Counts() && f.Severity == SeverityUnknown {
			n++
		}
	}
	return n
}

// Coverage is what one ecosystem of an inventory was checked against. An ecosystem with packages but
// no Sources was not checked: no finding about it means nothing.
type Coverage struct {
	// Ecosystem is the OSV ecosystem the packages are matched in ("Debian:12", "Go", "npm"), or, for
	// packages no OSV ecosystem names, their package type ("deb", "apk").
	Ecosystem string `json:"ecosystem"`
	// Packages counts the inventory's packages in it.
	Packages int `json:"packages"`
	// Sources are the imported data they were checked against.
	Sources []CoverageSource `json:"sources,omitempty"`
	// Reason says why they were not checked; set exactly when Sources is empty.
	Reason string `json:"reason,omitempty"`
}

// Checked reports whether the ecosystem's packages were checked against any data.
func (c Coverage) Checked() bool { return len(c.Sources) > 0 }

// String says it in one line, the same everywhere it is shown: "Go (3 packages, against Go: 4291 Go
// records)", "Debian:12 (96 packages, no data for Debian:12 or Debian)".
func (c Coverage) String() string {
	what := c.Reason
	if c.Checked() {
		var srcs []string
		for _, s := range c.Sources {
			srcs = append(srcs, fmt.Sprintf("%s: %d %s records", s.Name, s.Records, s.Ecosystem))
		}
		what = "against " + strings.Join(srcs, ", ")
	}
	return fmt.Sprintf("%s (%d packages, %s)", c.Ecosystem, c.Packages, what)
}

// CoverageSource is one source's data for an ecosystem.
type CoverageSource struct {
	// Name is the source's name in the database (ingot db status).
	Name string `json:"name"`
	// Ecosystem is the OSV ecosystem of the data: the inventory's own ("Debian:12") or the release-less
	// one whose advisories apply to every release ("Debian").
	Ecosystem string `json:"ecosystem"`
	// Records counts the source's records in that ecosystem.
	Records int `json:"records"`
}

// Unchecked returns the coverage entries that were not checked.
func Unchecked(cov []Coverage) []Coverage {
	var out []Coverage
	for _, c := range cov {
		if !c.Checked() {
			out = append(out, c)
		}
	}
	return out
}
