package evidence

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestSeverityRoundTrip(t *testing.T) {
	for _, name := range []string{"unknown", "negligible", "low", "medium", "high", "critical"} {
		s, err := ParseSeverity(name)
		if err != nil || s.String() != name {
			t.Errorf("ParseSeverity(%q) = %v, %v", name, s, err)
		}
	}
	for alias, want := range map[string]Severity{"MODERATE": SeverityMedium, "Important": SeverityHigh} {
		if s, _ := ParseSeverity(alias); s != want {
			t.Errorf("ParseSeverity(%q) = %v, want %v", alias, s, want)
		}
	}
	if _, err := ParseSeverity("severe"); err == nil {
		t.Error("ParseSeverity accepted an unknown name")
	}
	b, _ := json.Marshal(Finding{Severity: SeverityHigh})
	var f Finding
	if err := json.Unmarshal(b, &f); err != nil || f.Severity != SeverityHigh {
		t.Errorf("JSON round trip: %s -> %v, %v", b, f.Severity, err)
	}
}

func TestReportThresholds(t *testing.T) {
	r := Report{Findings: []Finding{
		{ID: "a", Severity: SeverityCritical, Status: StatusNotAffected},
		{ID: "b", Severity: SeverityHigh, Status: StatusAffected},
		{ID: "c", Severity: SeverityLow, Status: StatusFailed},
		{ID: "d", Severity: SeverityCritical, Status: StatusWaived},
	}}
	if w := r.Worst(); w != SeverityHigh {
		t.Errorf("Worst = %v, want high (VEX'd and waived findings do not count)", w)
	}
	if got := r.AtLeast(SeverityLow); len(got) != 2 {
		t.Errorf("AtLeast(low) = %v, want b and c", got)
	}
	if got := r.AtLeast(SeverityCritical); len(got) != 0 {
		t.Errorf("AtLeast(critical) = %v, want none", got)
	}
}

// TestUnknownAs: a gate counts findings of unknown severity at UnknownAs; fail-on unknown takes every
// finding that counts; the severities themselves are left alone.
func TestUnknownAs(t *testing.T) {
	fs := []Finding{
		{ID: "rated", Severity: SeverityMedium, Status: StatusAffected},
		{ID: "unrated", Severity: SeverityUnknown, Status: StatusAffected},
		{ID: "unrated-vexed", Severity: SeverityUnknown, Status: StatusNotAffected},
	}
	ids := func(fs []Finding) []string {
		var out []string
		for _, f := range fs {
			out = append(out, f.ID)
		}
		return out
	}
	tests := []struct {
		unknownAs Severity
		min       Severity
		want      []string
		worst     Severity
		counted   int
	}{
		{SeverityUnknown, SeverityHigh, nil, SeverityMedium, 0},
		{SeverityHigh, SeverityHigh, []string{"unrated"}, SeverityHigh, 1},
		{SeverityLow, SeverityHigh, nil, SeverityMedium, 1},
		{SeverityLow, SeverityLow, []string{"rated", "unrated"}, SeverityMedium, 1},
		{SeverityUnknown, SeverityUnknown, []string{"rated", "unrated"}, SeverityMedium, 0},
		{SeverityCritical, SeverityUnknown, []string{"rated", "unrated"}, SeverityCritical, 1},
	}
	for _, tt := range tests {
		r := Report{Findings: fs, UnknownAs: tt.unknownAs}
		if got := ids(r.AtLeast(tt.min)); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("unknown as %s: AtLeast(%s) = %v, want %v", tt.unknownAs, tt.min, got, tt.want)
		}
		if w := r.Worst(); w != tt.worst {
			t.Errorf("unknown as %s: Worst = %s, want %s", tt.unknownAs, w, tt.worst)
		}
		if n := r.UnknownCounted(); n != tt.counted {
			t.Errorf("unknown as %s: UnknownCounted = %d, want %d", tt.unknownAs, n, tt.counted)
		}
		if fs[1].Severity != SeverityUnknown {
			t.Fatal("the gate changed a finding's severity")
		}
	}
	b, _ := json.Marshal(Report{Findings: fs[1:2], UnknownAs: SeverityHigh})
	var back Report
	if err := json.Unmarshal(b, &back); err != nil || back.UnknownAs != SeverityHigh || back.Findings[0].Severity != SeverityUnknown {
		t.Errorf("JSON round trip: %s -> %+v, %v", b, back, err)
	}
}

func TestParseLevel(t *testing.T) {
	for i, name := range Levels() {
		if s, err := ParseLevel(strings.ToUpper(name)); err != nil || s != Severity(i) {
			t.Errorf("ParseLevel(%q) = %v, %v", name, s, err)
		}
	}
	for _, bad := range []string{"", "none", "moderate", "hihg"} {
		if _, err := ParseLevel(bad); err == nil {
			t.Errorf("ParseLevel(%q) accepted", bad)
		}
	}
	if s, err := ParseFailOn("none"); s != nil || err != nil {
		t.Errorf("ParseFailOn(none) = %v, %v; want a disabled gate", s, err)
	}
	if s, err := ParseFailOn("unknown"); err != nil || s == nil || *s != SeverityUnknown {
		t.Errorf("ParseFailOn(unknown) = %v, %v", s, err)
	}
	if _, err := ParseFailOn("severe"); err == nil || !strings.Contains(err.Error(), "none, unknown, negligible") {
		t.Errorf("ParseFailOn(severe) = %v", err)
	}
}
