package report

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/owenrumney/go-sarif/v2/sarif"

	"github.com/ingot-build/ingot/pkg/evidence"
)

// Formats every command accepts with -o.
const (
	FormatTable = "table"
	FormatJSON  = "json"
	FormatSARIF = "sarif"
)

// Formats are the formats Write takes, in the order help lists them.
func Formats() []string { return []string{FormatTable, FormatJSON, FormatSARIF} }

// Write renders r in format. Findings are sorted: most severe first, then by ID and location.
func Write(w io.Writer, format string, r evidence.Report) error {
	Sort(r.Findings)
	switch format {
	case FormatTable, "":
		return Table(w, r)
	case FormatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if r.Findings == nil {
			r.Findings = []evidence.Finding{}
		}
		return enc.Encode(r)
	case FormatSARIF:
		return SARIF(w, r)
	}
	return fmt.Errorf("unknown output format %q (want one of %s)", format, strings.Join(Formats(), ", "))
}

// Sort orders findings most severe first, then by ID, package and location, so outputs are stable.
func Sort(fs []evidence.Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.Counts() != b.Counts() {
			return a.Counts()
		}
		if a.Severity != b.Severity {
			return a.Severity > b.Severity
		}
		if a.ID != b.ID {
			return a.ID < b.ID
		}
		return subject(a) < subject(b)
	})
}

// subject is what a finding is about: a package, or a place in the image.
func subject(f evidence.Finding) string {
	if f.Package != nil {
		return f.Package.Name + " " + f.Package.Version
	}
	if len(f.Locations) > 0 {
		l := f.Locations[0]
		if l.Line > 0 {
			return fmt.Sprintf("%s:%d", l.Path, l.Line)
		}
		return l.Path
	}
	return ""
}

// Table writes one line per finding, with a summary line; quiet findings (VEX'd, waived, passed)
// are listed after those that count. The summary says at which level findings of unknown severity
// count when the report's gate maps them, and how many packages were not checked; a scan's coverage
// follows, one line per ecosystem.
func Table(w io.Writer, r evidence.Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SEVERITY\tID\tSUBJECT\tSTATUS\tFIX / DETAIL")
	counts := map[evidence.Severity]int{}
	for _, f := range r.Findings {
		if f.Counts() {
			counts[f.Severity]++
		}
		extra := f.FixedVersion
		if extra == "" && f.Status == evidence.StatusFailed {
			// A failed rule or test says what was found, or why it failed.
			extra = f.Detail["found"]
			if extra == "" {
				extra = f.Description
			}
		}
		if extra == "" {
			extra = f.Title
		}
		if f.Reason != "" && !f.Counts() {
			extra = f.Reason
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", strings.ToUpper(f.Severity.String()), f.ID, subject(f), f.Status, oneLine(extra, 80))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var parts []string
	for s := evidence.SeverityCritical; s >= evidence.SeverityUnknown; s-- {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
		}
	}
	if n := r.UnknownCounted(); n > 0 {
		parts[len(parts)-1] += fmt.Sprintf(" (counted as %s)", r.UnknownAs)
	}
	summary := "no findings"
	if len(parts) > 0 {
		summary = strings.Join(parts, ", ")
	}
	total, unchecked := 0, 0
	for _, c := range r.Coverage {
		total += c.Packages
		if !c.Checked() {
			unchecked += c.Packages
		}
	}
	if unchecked > 0 {
		summary += fmt.Sprintf("; %d of %d packages not checked", unchecked, total)
	}
	if _, err := fmt.Fprintf(w, "%s: %s\n", name(r), summary); err != nil {
		return err
	}
	for _, c := range r.Coverage {
		state := "checked"
		if !c.Checked() {
			state = "not checked"
		}
		if _, err := fmt.Fprintf(w, "%s: %s\n", state, c); err != nil {
			return err
		}
	}
	return nil
}

func name(r evidence.Report) string {
	switch {
	case r.Image.Ref != "":
		return r.Image.Ref
	case r.Image.Digest != "":
		return r.Image.Digest
	}
	return "image"
}

func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		return s[:max-1] + "…"
	}
	return s
}

// SARIF writes a SARIF 2.1.0 log with one run, one rule per finding ID and one result per finding
// that counts (others are listed as suppressed, with their reason). A scan's coverage goes in the
// run's properties ("coverage"), and each ecosystem that was not checked is also a warning among the
// invocation's tool execution notifications, where SARIF viewers show what a run could not do. A
// severity taken from an aliased record is named in the result's properties ("severitySource"), and
// the level unknown severities are counted at in the run's ("unknownAs").
func SARIF(w io.Writer, r evidence.Report) error {
	log, err := sarif.New(sarif.Version210)
	if err != nil {
		return err
	}
	tool := r.Tool
	if tool == "" {
		tool = "ingot"
	}
	run := sarif.NewRunWithInformationURI(tool, "https://github.com/ingot-build/ingot")
	seen := map[string]bool{}
	for _, f := range r.Findings {
		if !seen[f.ID] {
			seen[f.ID] = true
			desc := f.Title
			if desc == "" {
				desc = f.ID
			}
			rule := run.AddRule(f.ID).WithShortDescription(sarif.NewMultiformatMessageString(desc))
			if f.Description != "" {
				rule.WithFullDescription(sarif.NewMultiformatMessageString(f.Description))
			}
			if len(f.References) > 0 {
				rule.WithHelpURI(f.References[0])
			}
			props := sarif.NewPropertyBag()
			props.Add("security-severity", securitySeverity(f.Severity))
			props.Add("tags", []string{"security", f.Kind})
			rule.WithProperties(props.Properties)
		}
		msg := f.ID
		if f.Package != nil {
			msg = fmt.Sprintf("%s in %s %s", f.ID, f.Package.Name, f.Package.Version)
			if f.FixedVersion != "" {
				msg += ", fixed in " + f.FixedVersion
			}
		} else if f.Title != "" {
			msg = f.ID + ": " + f.Title
		}
		res := sarif.NewRuleResult(f.ID).WithLevel(level(f.Severity)).WithMessage(sarif.NewTextMessage(msg))
		locs := f.Locations
		if len(locs) == 0 {
			locs = []evidence.Location{{Path: name(r)}}
		}
		for _, l := range locs {
			pl := sarif.NewPhysicalLocation().WithArtifactLocation(sarif.NewSimpleArtifactLocation(strings.TrimPrefix(l.Path, "/")))
			if l.Line > 0 {
				pl.WithRegion(sarif.NewSimpleRegion(l.Line, l.Line))
			}
			res.AddLocation(sarif.NewLocationWithPhysicalLocation(pl))
		}
		if !f.Counts() {
			res.WithSuppression([]*sarif.Suppression{sarif.NewSuppression("external").WithJustifcation(f.Status + ": " + f.Reason)})
		}
		if f.SeveritySource != "" {
			res.Properties = sarif.Properties{"severitySource": f.SeveritySource}
		}
		run.AddResult(res)
	}
	props := sarif.NewPropertyBag()
	if r.Coverage != nil {
		props.Add("coverage", r.Coverage)
		inv := run.AddInvocation(true)
		for _, c := range evidence.Unchecked(r.Coverage) {
			inv.AddTToolExecutionNotification(sarif.NewNotification().WithLevel("warning").WithTextMessage("not checked: " + c.String()))
		}
	}
	if r.UnknownAs != evidence.SeverityUnknown {
		props.Add("unknownAs", r.UnknownAs.String())
	}
	if len(props.Properties) > 0 {
		run.Properties = props.Properties
	}
	log.AddRun(run)
	return writeSARIF(w, log)
}

func level(s evidence.Severity) string {
	switch {
	case s >= evidence.SeverityHigh:
		return "error"
	case s >= evidence.SeverityMedium:
		return "warning"
	default:
		return "note"
	}
}

// securitySeverity is the numeric score GitHub code scanning sorts by.
func securitySeverity(s evidence.Severity) string {
	switch s {
	case evidence.SeverityCritical:
		return "9.5"
	case evidence.SeverityHigh:
		return "8.0"
	case evidence.SeverityMedium:
		return "5.5"
	case evidence.SeverityLow:
		return "2.0"
	}
	return "0.0"
}
