package catalogtest

import (
	"errors"
	"testing"
	"time"

	"github.com/ingot-build/ingot/pkg/catalog"
)

// testScanned: each platform image's last scan is the build's, then that of every re-scan, also one
// that changes nothing (and so appends no event), and never moves back; admission reads it to refuse
// images whose scan is stale.
func testScanned(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	v := release(t, c, multiVersion("scanned", "1.0", "sc-1", basePackages(), nil), t0)
	scanned := func(r catalog.Ref) map[string]time.Time {
		t.Helper()
		got, err := c.Get(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]time.Time{}
		for _, p := range got.Platforms {
			out[p.Digest] = p.Scanned
		}
		return out
	}
	amd, arm := v.Platforms[0].Digest, v.Platforms[1].Digest
	build := t0.Add(-30 * time.Second) // evidenceFor's scan
	if got := scanned(catalog.Ref{Image: "scanned", Version: v.Digest}); !got[amd].Equal(build) || !got[arm].Equal(build) {
		t.Fatalf("after the build: %v, want both %s", got, build)
	}
	events := func() int {
		evs, err := c.Events(ctx, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		return len(evs)
	}
	before := events()
	later := t0.Add(26 * time.Hour)
	if _, err := c.RecordScan(ctx, catalog.Scan{VersionID: v.ID, Platform: arm, At: later}); err != nil {
		t.Fatal(err)
	}
	got := scanned(catalog.Ref{Image: "scanned", Version: arm})
	if !got[arm].Equal(later) || !got[amd].Equal(build) {
		t.Errorf("after re-scanning arm64 only: %v, want arm64 %s and amd64 %s", got, later, build)
	}
	if n := events(); n != before {
		t.Errorf("a re-scan that changed nothing appended %d events", n-before)
	}
	if _, err := c.RecordScan(ctx, catalog.Scan{VersionID: v.ID, Platform: arm, At: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if got := scanned(catalog.Ref{Image: "scanned", Version: v.Digest}); !got[arm].Equal(later) {
		t.Errorf("an older scan moved the last scan back to %s", got[arm])
	}
	list, err := c.List(ctx, catalog.ListOptions{Image: "scanned"})
	if err != nil || len(list) != 1 {
		t.Fatalf("List: %v %v", list, err)
	}
	// By digest: the version's own, or a platform image's; nothing for another digest.
	for _, d := range []string{v.Digest, arm} {
		got, err := c.List(ctx, catalog.ListOptions{Image: "scanned", Digest: d})
		if err != nil || len(got) != 1 || got[0].ID != v.ID || got[0].Platforms[0].Evidence != nil {
			t.Errorf("List by digest %s: %+v %v", d, got, err)
		}
	}
	if got, err := c.List(ctx, catalog.ListOptions{Digest: digest("nowhere")}); err != nil || len(got) != 0 {
		t.Errorf("List by an unknown digest: %+v %v", got, err)
	}
	if _, err := c.List(ctx, catalog.ListOptions{Digest: "latest"}); !errors.Is(err, catalog.ErrInvalid) {
		t.Errorf("List by a malformed digest: %v", err)
	}
	for _, p := range list[0].Platforms {
		if p.Scanned.IsZero() {
			t.Errorf("List leaves out %s's last scan", p.Digest)
		}
	}
}
