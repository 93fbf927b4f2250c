package evidence

import (
	"encoding/json"
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
