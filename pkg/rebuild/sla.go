package rebuild

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/evidence"
)

// Targets are the patch SLA per severity: how long after its fix became available a finding may stay
// in an image before a version without it is published. Severities without a target are not
// measured.
type Targets map[evidence.Severity]time.Duration

// DefaultTargets are critical 7 days, high 14, medium 30.
func DefaultTargets() Targets {
	return Targets{
		evidence.SeverityCritical: 7 * 24 * time.Hour,
		evidence.SeverityHigh:     14 * 24 * time.Hour,
		evidence.SeverityMedium:   30 * 24 * time.Hour,
	}
}

// ParseTargets reads "critical=7d,high=14d,medium=30d" over the defaults: each level given replaces
// its target (days as Nd, or a Go duration such as 36h), "none" removes it.
func ParseTargets(s string) (Targets, error) {
	t := DefaultTargets()
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		lvl, val, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("%w: target %q: want LEVEL=DURATION (critical=7d)", ErrConfig, part)
		}
		sev, err := evidence.ParseLevel(lvl)
		if err != nil {
			return nil, fmt.Errorf("%w: target %q: %w", ErrConfig, part, err)
		}
		if strings.EqualFold(strings.TrimSpace(val), "none") {
			delete(t, sev)
			continue
		}
		d, err := parseDays(val)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("%w: target %q: want a positive duration such as 7d or 36h", ErrConfig, part)
		}
		t[sev] = d
	}
	return t, nil
}

// parseDays reads "7d" (days) or a Go duration.
func parseDays(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.ParseFloat(n, 64)
		if err != nil {
			return 0, err
		}
		return time.Duration(days * float64(24*time.Hour)), nil
	}
	return time.ParseDuration(s)
}

// String writes the targets as ParseTargets reads them, most severe first.
func (t Targets) String() string {
	var parts []string
	for _, sev := range slices.Backward(evidence.Severities()) {
		if d, ok := t[sev]; ok {
			parts = append(parts, sev.String()+"="+days(d))
		}
	}
	return strings.Join(parts, ",")
}

func days(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	}
	return d.String()
}

// SLAOptions select what SLA measures.
type SLAOptions struct {
	// Targets per severity; DefaultTargets when nil.
	Targets Targets
	// Image measures one image only.
	Image string
	// Now is when open findings are judged; the zero time is now.
	Now time.Time
	// Weeks is how many weeks the trend covers, up to Now (12 when zero).
	Weeks int
}

// Fix sources: where a finding's clock starts.
const (
	// FixUpstream: the fixed version was first seen in a repository index (catalog.Upstream).
	FixUpstream = "upstream"
	// FixAdvisory: ingot never saw it; the advisory's publication date.
	FixAdvisory = "advisory"
	// FixRecorded: neither is known; when the finding was first recorded.
	FixRecorded = "recorded"
)

// Finding states.
const (
	// SLAOpen: no version of the line without the finding yet, and an active version has it.
	SLAOpen = "open"
	// SLARemediated: a version of the line without it was published.
	SLARemediated = "remediated"
	// SLARetired: no active version has it, and none replaced them (the line was revoked or retired).
	SLARetired = "retired"
)

// SLAFinding is one finding (an advisory in a package) of one release line of an image, with its
// clock.
type SLAFinding struct {
	Image     string            `json:"image"`
	Line      string            `json:"line"`
	ID        string            `json:"id"`
	Severity  evidence.Severity `json:"severity"`
	Package   string            `json:"package"`
	Ecosystem string            `json:"ecosystem,omitempty"`
	// Installed is the vulnerable version the newest exposed version ships; FixedVersion the one that
	// fixes it.
	Installed    string `json:"installed"`
	FixedVersion string `json:"fixedVersion"`
	// FixAvailable is when the fix became available (see FixSource): the clock starts there.
	FixAvailable time.Time `json:"fixAvailable"`
	FixSource    string    `json:"fixSource"`
	// FirstSeen is when the finding was first recorded in a version of the line.
	FirstSeen time.Time `json:"firstSeen"`
	// Exposed are the versions that have it, oldest first.
	Exposed []string `json:"exposed"`
	// Target is the SLA of its severity, Due when it ends.
	TargetHours float64   `json:"targetHours"`
	Due         time.Time `json:"due"`
	State       string    `json:"state"`
	// RemediatedAt is when the first version of the line without it was published (RemediatedBy).
	RemediatedAt time.Time `json:"remediatedAt,omitzero"`
	RemediatedBy string    `json:"remediatedBy,omitempty"`
	// HoursToRemediate is RemediatedAt - FixAvailable (at least 0), for remediated findings.
	HoursToRemediate float64 `json:"hoursToRemediate,omitempty"`
	// WithinTarget says the fix was published by Due; Breached that it was not (or is open past it).
	WithinTarget bool `json:"withinTarget"`
	Breached     bool `json:"breached"`
}

// SLAStats summarise findings: per severity, or per image.
type SLAStats struct {
	Key        string `json:"key"`
	Findings   int    `json:"findings"`
	Open       int    `json:"open"`
	Remediated int    `json:"remediated"`
	// OpenBreaches are open findings past their due time; WithinTarget remediated ones that made it.
	OpenBreaches int `json:"openBreaches"`
	WithinTarget int `json:"withinTarget"`
	// MedianHours and MaxHours are the time to remediation of the remediated findings.
	MedianHours float64 `json:"medianHours"`
	MaxHours    float64 `json:"maxHours"`
}

// SLAWeek is one week of the trend (weeks start on Monday, UTC).
type SLAWeek struct {
	Week time.Time `json:"week"`
	// Fixes counts the fixes that became available that week; Remediated the findings remediated,
	// Late those of them past their target; MedianHours their median time to remediation.
	Fixes       int     `json:"fixes"`
	Remediated  int     `json:"remediated"`
	Late        int     `json:"late"`
	MedianHours float64 `json:"medianHours"`
	// OpenAtEnd counts the findings open at the week's end, Breached those of them past due.
	OpenAtEnd int `json:"openAtEnd"`
	Breached  int `json:"breached"`
}

// SLAReport is the patch SLA of the catalog.
type SLAReport struct {
	Generated time.Time    `json:"generated"`
	Targets   string       `json:"targets"`
	Findings  []SLAFinding `json:"findings"`
	// Breaches are the open findings past due, most overdue first.
	Breaches   []SLAFinding `json:"breaches"`
	BySeverity []SLAStats   `json:"bySeverity"`
	ByImage    []SLAStats   `json:"byImage"`
	Trend      []SLAWeek    `json:"trend"`
}

// SLA measures patch SLAs over the catalog's history: for every vulnerability finding with a fix
// (of a severity with a target) that a published version of a release line has had, when the fix
// became available (the first time its fixed version was seen in a repository index, else the
// advisory's publication date, else when the finding was first recorded), when the first version of
// the line without it was published, and whether that was within the target. Findings are told
// apart by advisory and package, so a rebuild that moves the package to another vulnerable version
// does not remediate it.
func SLA(ctx context.Context, cat catalog.Catalog, opt SLAOptions) (*SLAReport, error) {
	targets := opt.Targets
	if targets == nil {
		targets = DefaultTargets()
	}
	now := opt.Now
	if now.IsZero() {
		now = time.Now()
	}
	now = now.UTC()
	versions, err := cat.List(ctx, catalog.ListOptions{Image: opt.Image})
	if err != nil {
		return nil, err
	}
	ecos, err := ecosystemsByPURL(ctx, cat)
	if err != nil {
		return nil, err
	}
	type lineKey struct{ image, line string }
	lines := map[lineKey][]*catalog.Version{}
	var order []lineKey
	for _, v := range versions {
		k := lineKey{v.Image, v.Line}
		if _, ok := lines[k]; !ok {
			order = append(order, k)
		}
		lines[k] = append(lines[k], v)
	}
	slices.SortFunc(order, func(a, b lineKey) int { return strings.Compare(a.image+"\x00"+a.line, b.image+"\x00"+b.line) })
	rep := &SLAReport{Generated: now, Targets: targets.String(), Findings: []SLAFinding{}, Breaches: []SLAFinding{}}
	for _, k := range order {
		vs := lines[k]
		slices.SortFunc(vs, func(a, b *catalog.Version) int {
			if c := a.Published.Compare(b.Published); c != 0 {
				return c
			}
			return int(a.ID - b.ID)
		})
		fs, err := lineFindings(ctx, cat, vs, targets, ecos, now)
		if err != nil {
			return nil, err
		}
		rep.Findings = append(rep.Findings, fs...)
	}
	for _, f := range rep.Findings {
		if f.State == SLAOpen && f.Breached {
			rep.Breaches = append(rep.Breaches, f)
		}
	}
	slices.SortFunc(rep.Breaches, func(a, b SLAFinding) int { return a.Due.Compare(b.Due) })
	rep.BySeverity = stats(rep.Findings, func(f SLAFinding) string { return f.Severity.String() })
	slices.SortFunc(rep.BySeverity, func(a, b SLAStats) int {
		x, _ := evidence.ParseLevel(a.Key)
		y, _ := evidence.ParseLevel(b.Key)
		return int(y - x)
	})
	rep.ByImage = stats(rep.Findings, func(f SLAFinding) string { return f.Image })
	slices.SortFunc(rep.ByImage, func(a, b SLAStats) int { return strings.Compare(a.Key, b.Key) })
	weeks := opt.Weeks
	if weeks <= 0 {
		weeks = 12
	}
	rep.Trend = trend(rep.Findings, now, weeks)
	return rep, nil
}

// ecosystemsByPURL maps each package of the catalog to its ecosystem (findings name their package
// by PURL; the fixed version is looked up upstream in that ecosystem).
func ecosystemsByPURL(ctx context.Context, cat catalog.Catalog) (map[string]string, error) {
	pkgs, err := cat.Packages(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, p := range pkgs {
		if p.PURL != "" && p.Ecosystem != "" {
			out[p.PURL] = p.Ecosystem
		}
	}
	return out, nil
}

// lineFindings measures the findings of one release line; vs are its versions, oldest first.
func lineFindings(ctx context.Context, cat catalog.Catalog, vs []*catalog.Version, targets Targets, ecos map[string]string, now time.Time) ([]SLAFinding, error) {
	type key struct{ id, pkg string }
	type agg struct {
		f         evidence.Finding
		eco       string
		firstSeen time.Time
		exposed   map[int64]bool
	}
	found := map[key]*agg{}
	var order []key
	for _, v := range vs {
		hist, err := cat.FindingHistory(ctx, catalog.Ref{Image: v.Image, Version: v.Tag()})
		if err != nil {
			return nil, err
		}
		for _, tf := range hist {
			f := tf.Finding
			if f.Kind != evidence.KindVulnerability || f.Package == nil || f.FixedVersion == "" || !f.Counts() {
				continue
			}
			k := key{f.ID, f.Package.Name}
			a := found[k]
			if a == nil {
				a = &agg{f: f, firstSeen: tf.FirstSeen, exposed: map[int64]bool{}}
				found[k] = a
				order = append(order, k)
			}
			// The newest exposed version's view of it (versions come oldest first).
			a.f.Package, a.f.FixedVersion, a.f.Published = f.Package, f.FixedVersion, minTime(a.f.Published, f.Published)
			a.f.Severity = max(a.f.Severity, f.Severity)
			if eco := ecos[f.Package.PURL]; eco != "" {
				a.eco = eco
			}
			if tf.FirstSeen.Before(a.firstSeen) {
				a.firstSeen = tf.FirstSeen
			}
			a.exposed[v.ID] = true
		}
	}
	var out []SLAFinding
	for _, k := range order {
		a := found[k]
		target, ok := targets[a.f.Severity]
		if !ok {
			continue
		}
		s := SLAFinding{Image: vs[0].Image, Line: vs[0].Line, ID: a.f.ID, Severity: a.f.Severity, Package: a.f.Package.Name,
			Ecosystem: a.eco, Installed: a.f.Package.Version, FixedVersion: a.f.FixedVersion, FirstSeen: a.firstSeen,
			TargetHours: target.Hours()}
		if err := s.clock(ctx, cat, a.f); err != nil {
			return nil, err
		}
		s.Due = s.FixAvailable.Add(target)
		var firstExposed *catalog.Version
		activeExposed := false
		for _, v := range vs {
			if a.exposed[v.ID] {
				s.Exposed = append(s.Exposed, v.Ref())
				if firstExposed == nil {
					firstExposed = v
				}
				activeExposed = activeExposed || v.Status.Status == catalog.StatusActive
				continue
			}
			if firstExposed != nil && s.RemediatedBy == "" && v.Published.After(firstExposed.Published) {
				s.RemediatedAt, s.RemediatedBy = v.Published, v.Ref()
			}
		}
		switch {
		case s.RemediatedBy != "":
			s.State = SLARemediated
			s.HoursToRemediate = max(0, s.RemediatedAt.Sub(s.FixAvailable).Hours())
			s.WithinTarget = !s.RemediatedAt.After(s.Due)
			s.Breached = !s.WithinTarget
		case activeExposed:
			s.State = SLAOpen
			s.Breached = now.After(s.Due)
		default:
			s.State = SLARetired
		}
		out = append(out, s)
	}
	return out, nil
}

// clock finds when the finding's fix became available: the first sighting upstream of its fixed
// version (under the source package advisories name, or the binary package), else the advisory's
// publication, else the finding's first record.
func (s *SLAFinding) clock(ctx context.Context, cat catalog.Catalog, f evidence.Finding) error {
	if s.Ecosystem != "" {
		names := []string{f.Package.Name}
		if f.Package.Source != "" && f.Package.Source != f.Package.Name {
			names = append([]string{f.Package.Source}, names...)
		}
		for _, n := range names {
			at, ok, err := cat.FirstSeen(ctx, catalog.UpstreamPackage{Ecosystem: s.Ecosystem, Name: n, Version: f.FixedVersion})
			if err != nil {
				return err
			}
			if ok && (s.FixAvailable.IsZero() || at.Before(s.FixAvailable)) {
				s.FixAvailable, s.FixSource = at.UTC(), FixUpstream
			}
		}
		if s.FixSource != "" {
			return nil
		}
	}
	if !f.Published.IsZero() {
		s.FixAvailable, s.FixSource = f.Published.UTC(), FixAdvisory
		return nil
	}
	s.FixAvailable, s.FixSource = s.FirstSeen, FixRecorded
	return nil
}

func minTime(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero() || a.Before(b):
		return a
	}
	return b
}

// stats summarises findings grouped by key.
func stats(fs []SLAFinding, keyOf func(SLAFinding) string) []SLAStats {
	by := map[string]*SLAStats{}
	hours := map[string][]float64{}
	for _, f := range fs {
		k := keyOf(f)
		s := by[k]
		if s == nil {
			s = &SLAStats{Key: k}
			by[k] = s
		}
		s.Findings++
		switch f.State {
		case SLAOpen:
			s.Open++
			if f.Breached {
				s.OpenBreaches++
			}
		case SLARemediated:
			s.Remediated++
			if f.WithinTarget {
				s.WithinTarget++
			}
			hours[k] = append(hours[k], f.HoursToRemediate)
		}
	}
	out := make([]SLAStats, 0, len(by))
	for k, s := range by {
		s.MedianHours = median(hours[k])
		for _, h := range hours[k] {
			s.MaxHours = max(s.MaxHours, h)
		}
		out = append(out, *s)
	}
	return out
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	ys := slices.Clone(xs)
	sort.Float64s(ys)
	if n := len(ys); n%2 == 1 {
		return ys[n/2]
	}
	return (ys[len(ys)/2-1] + ys[len(ys)/2]) / 2
}

// weekStart is the Monday 00:00 UTC of t's week.
func weekStart(t time.Time) time.Time {
	t = t.UTC()
	d := (int(t.Weekday()) + 6) % 7
	return time.Date(t.Year(), t.Month(), t.Day()-d, 0, 0, 0, 0, time.UTC)
}

// trend counts, per week up to now, the fixes that became available, the findings remediated (and
// late), and those open at the week's end.
func trend(fs []SLAFinding, now time.Time, weeks int) []SLAWeek {
	last := weekStart(now)
	out := make([]SLAWeek, weeks)
	for i := range out {
		out[i].Week = last.AddDate(0, 0, -7*(weeks-1-i))
	}
	hours := make([][]float64, weeks)
	index := func(t time.Time) int {
		if t.IsZero() {
			return -1
		}
		i := weeks - 1 - int(last.Sub(weekStart(t)).Hours()/(24*7))
		if i < 0 || i >= weeks {
			return -1
		}
		return i
	}
	for _, f := range fs {
		if i := index(f.FixAvailable); i >= 0 {
			out[i].Fixes++
		}
		if f.State == SLARemediated {
			if i := index(f.RemediatedAt); i >= 0 {
				out[i].Remediated++
				if !f.WithinTarget {
					out[i].Late++
				}
				hours[i] = append(hours[i], f.HoursToRemediate)
			}
		}
		for i := range out {
			end := out[i].Week.AddDate(0, 0, 7)
			if end.After(now) {
				end = now
			}
			openThen := !f.FixAvailable.After(end) && (f.State == SLAOpen || f.State == SLARemediated && f.RemediatedAt.After(end))
			if openThen {
				out[i].OpenAtEnd++
				if end.After(f.Due) {
					out[i].Breached++
				}
			}
		}
	}
	for i := range out {
		out[i].MedianHours = median(hours[i])
	}
	return out
}
