package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/ingot-build/ingot/pkg/catalog"
)

func TestCheckRecord(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	index, amd, arm := "sha256:"+strings.Repeat("1", 64), "sha256:"+strings.Repeat("2", 64), "sha256:"+strings.Repeat("3", 64)
	rec := func(st catalog.Status, at time.Time, scans ...time.Time) Record {
		r := Record{Found: true, Image: "app", Tag: "1.0-r2", Digest: index,
			Status: catalog.StatusChange{Status: st, At: at, Actor: "alice", Reason: "CVE-2026-1"}}
		for i, d := range []string{amd, arm} {
			p := RecordPlatform{Digest: d, Name: []string{"linux/amd64", "linux/arm64"}[i]}
			if i < len(scans) {
				p.LastScan = scans[i]
			}
			r.Platforms = append(r.Platforms, p)
		}
		return r
	}
	fresh := []time.Time{now.Add(-time.Hour), now.Add(-2 * time.Hour)}
	grace := &Duration{7 * day}
	maxAge := &Duration{day}
	for _, tc := range []struct {
		name   string
		req    CatalogRequirement
		rec    Record
		digest string
		want   string // requirement that fails, "" for none
		says   string
	}{
		{"active", CatalogRequirement{}, rec(catalog.StatusActive, now.Add(-30*day)), index, "", ""},
		{"not in the catalog", CatalogRequirement{}, Record{}, index, ReqCatalog, "is not a version of app"},
		{"revoked", CatalogRequirement{}, rec(catalog.StatusRevoked, now.Add(-time.Minute)), index, ReqCatalog, "is revoked since 2026-03-01T11:59:00Z by alice: CVE-2026-1"},
		{"end of life", CatalogRequirement{}, rec(catalog.StatusEOL, now.Add(-day)), amd, ReqCatalog, "end of life"},
		{"deprecated, no grace asked", CatalogRequirement{}, rec(catalog.StatusDeprecated, now.Add(-100*day)), index, "", ""},
		{"deprecated within grace", CatalogRequirement{DeprecatedGrace: grace}, rec(catalog.StatusDeprecated, now.Add(-6*day)), index, "", ""},
		{"deprecated past grace", CatalogRequirement{DeprecatedGrace: grace}, rec(catalog.StatusDeprecated, now.Add(-8*day)), index, ReqCatalog, "past the grace period of 168h0m0s"},
		{"deprecated, no grace at all", CatalogRequirement{DeprecatedGrace: &Duration{}}, rec(catalog.StatusDeprecated, now.Add(-time.Second)), index, ReqCatalog, "past the grace"},
		{"superseded, due long ago", CatalogRequirement{DeprecatedGrace: grace}, func() Record {
			r := rec(catalog.StatusActive, now.Add(-60*day))
			r.DeprecateAt = now.Add(-8 * day)
			return r
		}(), index, ReqCatalog, "superseded"},
		{"fresh scans", CatalogRequirement{MaxScanAge: maxAge}, rec(catalog.StatusActive, now, fresh...), index, "", ""},
		{"one platform stale", CatalogRequirement{MaxScanAge: maxAge}, rec(catalog.StatusActive, now, now.Add(-time.Hour), now.Add(-25*time.Hour)), index, ReqScan, "linux/arm64 " + arm + " of app@1.0-r2 was last scanned 25h0m0s ago"},
		{"the pod names the fresh platform", CatalogRequirement{MaxScanAge: maxAge}, rec(catalog.StatusActive, now, now.Add(-time.Hour), now.Add(-25*time.Hour)), amd, "", ""},
		{"the pod names the stale platform", CatalogRequirement{MaxScanAge: maxAge}, rec(catalog.StatusActive, now, now.Add(-time.Hour), now.Add(-25*time.Hour)), arm, ReqScan, "linux/arm64"},
		{"never scanned", CatalogRequirement{MaxScanAge: maxAge}, rec(catalog.StatusActive, now, now), index, ReqScan, "never scanned"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := tc.req
			got := CheckRecord("r", &req, tc.rec, "app", tc.digest, now)
			switch {
			case tc.want == "" && len(got) > 0:
				t.Errorf("failed: %v", got)
			case tc.want != "" && len(got) == 0:
				t.Errorf("passed, want %s", tc.want)
			case tc.want != "" && (got[0].Requirement != tc.want || !strings.Contains(got[0].Message, tc.says)):
				t.Errorf("got %v, want %s saying %q", got, tc.want, tc.says)
			}
		})
	}
}
