package vuln

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/ingot-build/ingot/pkg/evidence"
)

func TestSeverity(t *testing.T) {
	const (
		v31crit = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"                    // 9.8
		v31none = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N"                    // 0.0
		v31low  = "CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N"                    // 1.8
		v30med  = "CVSS:3.0/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N"                    // 5.5
		v40crit = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N" // 9.3
		v2high  = "AV:N/AC:L/Au:N/C:P/I:P/A:P"                                      // 7.5
	)
	tests := []struct {
		name   string
		record string // JSON of the record; its first affected entry is rated
		want   evidence.Severity
		scores []evidence.CVSS
	}{
		{"v3.1 vector", `{"severity":[{"type":"CVSS_V3","score":"` + v31crit + `"}]}`,
			evidence.SeverityCritical, []evidence.CVSS{{Version: "3.1", Vector: v31crit, Score: 9.8}}},
		{"v3.0 vector", `{"severity":[{"type":"CVSS_V3","score":"` + v30med + `"}]}`,
			evidence.SeverityMedium, []evidence.CVSS{{Version: "3.0", Vector: v30med, Score: 5.5}}},
		{"v4.0 vector", `{"severity":[{"type":"CVSS_V4","score":"` + v40crit + `"}]}`,
			evidence.SeverityCritical, []evidence.CVSS{{Version: "4.0", Vector: v40crit, Score: 9.3}}},
		{"the worse of v3 and v4", `{"severity":[{"type":"CVSS_V3","score":"` + v31low + `"},{"type":"CVSS_V4","score":"` + v40crit + `"}]}`,
			evidence.SeverityCritical, []evidence.CVSS{{Version: "3.1", Vector: v31low, Score: 1.8}, {Version: "4.0", Vector: v40crit, Score: 9.3}}},
		{"a score of zero is negligible", `{"severity":[{"type":"CVSS_V3","score":"` + v31none + `"}]}`,
			evidence.SeverityNegligible, []evidence.CVSS{{Version: "3.1", Vector: v31none, Score: 0}}},
		{"a vector beats the database's rating", `{"severity":[{"type":"CVSS_V3","score":"` + v31low + `"}],"database_specific":{"severity":"CRITICAL"}}`,
			evidence.SeverityLow, []evidence.CVSS{{Version: "3.1", Vector: v31low, Score: 1.8}}},
		{"GitHub's rating", `{"database_specific":{"severity":"MODERATE"}}`, evidence.SeverityMedium, nil},
		{"the database's rating beats a v2 score", `{"severity":[{"type":"CVSS_V2","score":"` + v2high + `"}],"database_specific":{"severity":"LOW"}}`,
			evidence.SeverityLow, []evidence.CVSS{{Version: "2.0", Vector: v2high, Score: 7.5}}},
		{"v2 alone", `{"severity":[{"type":"CVSS_V2","score":"` + v2high + `"}]}`,
			evidence.SeverityHigh, []evidence.CVSS{{Version: "2.0", Vector: v2high, Score: 7.5}}},
		{"entry-level vector", `{"affected":[{"severity":[{"type":"CVSS_V3","score":"` + v30med + `"}]}]}`,
			evidence.SeverityMedium, []evidence.CVSS{{Version: "3.0", Vector: v30med, Score: 5.5}}},
		{"the same vector twice is kept once", `{"severity":[{"type":"CVSS_V3","score":"` + v30med + `"}],"affected":[{"severity":[{"type":"CVSS_V3","score":"` + v30med + `"}]}]}`,
			evidence.SeverityMedium, []evidence.CVSS{{Version: "3.0", Vector: v30med, Score: 5.5}}},
		{"ecosystem_specific severity", `{"affected":[{"ecosystem_specific":{"severity":"high"}}]}`, evidence.SeverityHigh, nil},
		{"Ubuntu priority", `{"severity":[{"type":"Ubuntu","score":"medium"}]}`, evidence.SeverityMedium, nil},
		{"Debian urgency", `{"affected":[{"ecosystem_specific":{"urgency":"medium**"}}]}`, evidence.SeverityMedium, nil},
		{"Debian unimportant", `{"affected":[{"ecosystem_specific":{"urgency":"unimportant"}}]}`, evidence.SeverityNegligible, nil},
		{"Debian not yet assigned", `{"affected":[{"ecosystem_specific":{"urgency":"not yet assigned"}}]}`, evidence.SeverityUnknown, nil},
		{"unreadable vectors and ratings", `{"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:X"},{"type":"CVSS_V4","score":"nope"},{"type":"CVSS_V9","score":"x"}],"database_specific":{"severity":"severe"}}`,
			evidence.SeverityUnknown, nil},
		{"nothing", `{}`, evidence.SeverityUnknown, nil},
		{"database_specific that is not an object", `{"database_specific":"HIGH"}`, evidence.SeverityUnknown, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r osvRecord
			if err := json.Unmarshal([]byte(tt.record), &r); err != nil {
				t.Fatal(err)
			}
			if len(r.Affected) == 0 {
				r.Affected = []osvAffected{{}}
			}
			got, scores := severityOf(&r, &r.Affected[0])
			if got != tt.want || !reflect.DeepEqual(scores, tt.scores) {
				t.Errorf("severityOf = %v %+v, want %v %+v", got, scores, tt.want, tt.scores)
			}
		})
	}
}
