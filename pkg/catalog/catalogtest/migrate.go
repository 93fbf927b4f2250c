package catalogtest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/evidence"
)

// v1Finding is the finding the version-1 rows hold, on libssl3, in two platform images.
func v1Finding() evidence.Finding {
	p := deb("libssl3", "3.0.11-1~deb12u2", "openssl", "3.0.11-1~deb12u2")
	f := vulnFinding("CVE-2025-0101", evidence.SeverityCritical, p, "3.0.13-1~deb12u1")
	f.Description = "it's \"quoted\" and <tagged>"
	return f
}

// V1Rows is a catalog as schema version 1 (0001_catalog.sql) stored it: a published version of web
// with two platform images shipping libssl3 and tzdata from two layers, each with the same open
// critical finding, and its published event. truth is the dialect's literal for true.
func V1Rows(truth string) string {
	detail, err := json.Marshal(v1Finding())
	if err != nil {
		panic(err)
	}
	lit := "'" + strings.ReplaceAll(string(detail), "'", "''") + "'"
	amd, arm := digest("v1-amd64"), digest("v1-arm64")
	return fmt.Sprintf(`
INSERT INTO versions (id, image, line, serial, kind, digest, state, status, status_at, reason, built, published)
    VALUES (1, 'web', '1.0', 1, 'container', '%[1]s', 'published', 'active', 1000, 'ingot build', 1000, 2000);
INSERT INTO line_serials (image, line, last) VALUES ('web', '1.0', 1);
INSERT INTO platforms (id, version_id, os, arch, variant, digest, image, tag, version_digest, state, status) VALUES
    (1, 1, 'linux', 'amd64', '', '%[2]s', 'web', '1.0-r1', '%[1]s', 'published', 'active'),
    (2, 1, 'linux', 'arm64', 'v8', '%[3]s', 'web', '1.0-r1', '%[1]s', 'published', 'active');
INSERT INTO packages (id, name, version, ecosystem, type, arch, source, source_version, purl, name_key) VALUES
    (1, 'libssl3', '3.0.11-1~deb12u2', 'Debian:12', 'deb', 'amd64', 'openssl', '3.0.11-1~deb12u2', 'pkg:deb/debian/libssl3@3.0.11-1~deb12u2', 'libssl3'),
    (2, 'tzdata', '2024a-0+deb12u1', 'Debian:12', 'deb', 'amd64', '', '', 'pkg:deb/debian/tzdata@2024a-0+deb12u1', 'tzdata');
INSERT INTO platform_packages (package_id, platform_id, layer) VALUES
    (1, 1, '%[4]s'), (2, 1, '%[5]s'), (1, 2, '%[4]s'), (2, 2, '');
INSERT INTO findings (platform_id, vuln_id, pkg_name, pkg_version, severity, status, fixed_version, detail, first_seen, last_seen, open) VALUES
    (1, 'CVE-2025-0101', 'libssl3', '3.0.11-1~deb12u2', 5, 'affected', '3.0.13-1~deb12u1', %[6]s, 1000, 1500, %[7]s),
    (2, 'CVE-2025-0101', 'libssl3', '3.0.11-1~deb12u2', 5, 'affected', '3.0.13-1~deb12u1', %[6]s, 1000, 1500, %[7]s);
INSERT INTO events (seq, kind, version_id, image, tag, digest, status, at) VALUES
    (1, 'published', 1, 'web', '1.0-r1', '%[1]s', 'active', 2000);
`, digest("v1"), amd, arm, digest("layer-a"), digest("layer-b"), lit, truth)
}

// CheckV1 checks that a catalog migrated from V1Rows answers what version 1 did: the layers of
// the links and the findings' details came through. It re-scans the amd64 image with the same
// finding: the scan must find it unchanged (its detail's digest, computed by the migration, is the
// one the store computes).
func CheckV1(t *testing.T, c catalog.Catalog) {
	ctx := t.Context()
	es, err := c.QueryPackage(ctx, catalog.PackageQuery{Name: "tzdata"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range es {
		got = append(got, e.Image+"@"+e.Tag+" "+e.Platform+" "+e.Package.Version+" "+e.Package.Layer+" "+string(e.Status))
	}
	want := []string{
		"web@1.0-r1 linux/amd64 2024a-0+deb12u1 " + digest("layer-b") + " active",
		"web@1.0-r1 linux/arm64/v8 2024a-0+deb12u1  active",
	}
	if !slices.Equal(got, want) {
		t.Errorf("migrated links:\n got %q\nwant %q", got, want)
	}
	es, err = c.QueryPackage(ctx, catalog.PackageQuery{Name: "openssl"})
	if err != nil || len(es) != 2 || es[0].Package.Layer != digest("layer-a") || es[0].Package.PURL == "" {
		t.Errorf("migrated libssl3: %+v %v", es, err)
	}
	fs, err := c.QueryFindings(ctx, catalog.FindingQuery{MinSeverity: evidence.SeverityCritical})
	if err != nil || len(fs) != 2 {
		t.Fatalf("migrated findings: %+v %v", fs, err)
	}
	if jsonOf(t, fs[0].Finding) != jsonOf(t, v1Finding()) || fs[0].Platform != "linux/amd64" || fs[1].Platform != "linux/arm64/v8" {
		t.Errorf("migrated finding: %s on %s", jsonOf(t, fs[0].Finding), fs[0].Platform)
	}
	v := get(t, c, "web@1.0-r1")
	ch, err := c.RecordScan(ctx, catalog.Scan{VersionID: v.ID, Platform: digest("v1-amd64"), Findings: []evidence.Finding{v1Finding()}, At: t0})
	if err != nil || ch.Changed() {
		t.Errorf("re-scan with the same finding: %+v %v", ch, err)
	}
	h, err := c.FindingHistory(ctx, catalog.Ref{Image: "web", Version: "1.0-r1"})
	if err != nil || len(h) != 2 || !h[0].LastSeen.Equal(t0) || h[0].FirstSeen.UnixMicro() != 1000 {
		t.Errorf("history after the re-scan: %+v %v", h, err)
	}
	// New versions go on where the old ones stopped.
	next := release(t, c, version("web", "1.0", "v1-next", basePackages()), t0)
	if next.Serial != 2 || next.ID <= 1 {
		t.Errorf("after migration: serial %d id %d", next.Serial, next.ID)
	}
}
