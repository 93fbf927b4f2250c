package catalog_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/evidence"
)

func TestParseRange(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"", ""},
		{"<1.2.3", "<1.2.3"},
		{">=1.0, <2.0", ">=1.0, <2.0"},
		{" >= 1.0 ,< 2.0 ", ">=1.0, <2.0"},
		{"=1.2", "=1.2"},
		{"==1.2", "=1.2"},
		{"1.2", "=1.2"},
		{"!=1:2.0-1~rc1", "!=1:2.0-1~rc1"},
		{"<=v0.23.0", "<=v0.23.0"},
	} {
		r, err := catalog.ParseRange(tc.in)
		if err != nil {
			t.Errorf("ParseRange(%q): %v", tc.in, err)
			continue
		}
		if r.String() != tc.want {
			t.Errorf("ParseRange(%q) = %q, want %q", tc.in, r.String(), tc.want)
		}
	}
	for _, bad := range []string{"<", "<<1", "<1,", ",", ">=1.0 <2.0", "=>1", "<1 2"} {
		if _, err := catalog.ParseRange(bad); !errors.Is(err, catalog.ErrInvalid) {
			t.Errorf("ParseRange(%q): %v, want ErrInvalid", bad, err)
		}
	}
}

func TestRangeContains(t *testing.T) {
	for _, tc := range []struct {
		eco, name, rng, version string
		want                    bool
	}{
		{"Debian:12", "libssl3", "<3.0.11-1", "3.0.11-1~deb12u2", true}, // tilde sorts first
		{"Debian:12", "libssl3", "<3.0.11-1", "3.0.11-1", false},
		{"Debian", "libcrypt1", "<4.5", "1:4.4.33-2", false}, // the epoch wins
		{"Debian", "libcrypt1", "<4.5", "4.4.36-4", true},
		{"Go", "golang.org/x/net", ">=0.10.0, <0.23.0", "v0.7.0", false}, // 7 < 10 numerically
		{"Go", "golang.org/x/net", ">=0.10.0, <0.23.0", "0.17.0", true},
		{"Go", "stdlib", "<1.22.2", "go1.22.1", true},
		{"npm", "lodash", "<4.17.21", "4.17.3", true},
		{"npm", "lodash", "!=4.17.21", "4.17.21", false},
		{"PyPI", "django", ">=4.2, <4.2.1", "4.2.post1", true},
		{"PyPI", "urllib3", "<2.0.0", "2.0.0rc1", true},
		{"Go", "x", "", "anything at all", true}, // the empty range holds every version
	} {
		r, err := catalog.ParseRange(tc.rng)
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.Contains(tc.eco, tc.name, tc.version)
		if err != nil {
			t.Errorf("%s %s %q contains %q: %v", tc.eco, tc.name, tc.rng, tc.version, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%s %s %q contains %q = %v, want %v", tc.eco, tc.name, tc.rng, tc.version, got, tc.want)
		}
	}
	r, _ := catalog.ParseRange("<1.0")
	if _, err := r.Contains("Maven", "x", "0.9"); err == nil {
		t.Errorf("an ecosystem without an ordering compared")
	}
	if _, err := r.Contains("Go", "x", "not-a-version"); err == nil {
		t.Errorf("a version that does not parse compared")
	}
}

func TestMatchEcosystem(t *testing.T) {
	for _, tc := range []struct {
		query, eco string
		want       bool
	}{
		{"", "Debian:12", true},
		{"Debian", "Debian:12", true},
		{"debian", "Debian:12", true},
		{"Debian:12", "Debian:12", true},
		{"Debian:12", "Debian:11", false},
		{"Debian:12", "Debian", false},
		{"Deb", "Debian:12", false},
		{"Go", "Go", true},
		{"Go", "npm", false},
	} {
		if got := catalog.MatchEcosystem(tc.query, tc.eco); got != tc.want {
			t.Errorf("MatchEcosystem(%q, %q) = %v, want %v", tc.query, tc.eco, got, tc.want)
		}
	}
}

func TestParseTag(t *testing.T) {
	for _, tc := range []struct {
		tag    string
		line   string
		serial int
		ok     bool
	}{
		{"1.2.3-r4", "1.2.3", 4, true},
		{"2024-r1-r12", "2024-r1", 12, true},
		{"latest-r1", "latest", 1, true},
		{"1.2.3", "", 0, false},
		{"1.2.3-r0", "", 0, false},
		{"1.2.3-r04", "", 0, false},
		{"-r4", "", 0, false},
		{"1.2.3-rc1", "", 0, false},
	} {
		line, serial, ok := catalog.ParseTag(tc.tag)
		if line != tc.line || serial != tc.serial || ok != tc.ok {
			t.Errorf("ParseTag(%q) = %q %d %v, want %q %d %v", tc.tag, line, serial, ok, tc.line, tc.serial, tc.ok)
		}
		if ok && catalog.Tag(line, serial) != tc.tag {
			t.Errorf("Tag(ParseTag(%q)) = %q", tc.tag, catalog.Tag(line, serial))
		}
	}
}

func TestTransition(t *testing.T) {
	allowed := map[string]bool{
		"active→deprecated": true, "active→revoked": true, "active→eol": true,
		"deprecated→active": true, "deprecated→revoked": true, "deprecated→eol": true,
		"revoked→active": true,
		"eol→active":     true, "eol→revoked": true,
	}
	for _, from := range catalog.AllStatuses() {
		for _, to := range catalog.AllStatuses() {
			name := fmt.Sprintf("%s→%s", from, to)
			err := catalog.Transition(from, to)
			if allowed[name] != (err == nil) {
				t.Errorf("Transition %s: %v, allowed %v", name, err, allowed[name])
			}
			if err != nil && !errors.Is(err, catalog.ErrTransition) {
				t.Errorf("Transition %s: %v, want ErrTransition", name, err)
			}
		}
	}
}

// A status change names a status exactly as stored: "Revoked" would be stored as written, and match
// no status filter.
func TestStatusChangeValidate(t *testing.T) {
	for _, tc := range []struct {
		c  catalog.StatusChange
		ok bool
	}{
		{catalog.StatusChange{Status: catalog.StatusRevoked, Reason: "CVE"}, true},
		{catalog.StatusChange{Status: "REVOKED", Reason: "CVE"}, false},
		{catalog.StatusChange{Status: " revoked", Reason: "CVE"}, false},
		{catalog.StatusChange{Status: "gone", Reason: "CVE"}, false},
		{catalog.StatusChange{Status: catalog.StatusEOL, Reason: " "}, false},
	} {
		err := tc.c.Validate()
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, catalog.ErrInvalid)) {
			t.Errorf("Validate(%+v) = %v, want ok %v", tc.c, err, tc.ok)
		}
	}
}

func pkg(typ, name, version string) evidence.Package {
	return evidence.Package{Type: typ, Name: name, Version: version, Ecosystem: map[string]string{"deb": "Debian:12", "golang": "Go"}[typ]}
}

func vuln(id string, p evidence.Package, status string) evidence.Finding {
	return evidence.Finding{Kind: evidence.KindVulnerability, ID: id, Status: status, Severity: evidence.SeverityHigh,
		Package: &evidence.PackageRef{Name: p.Name, Version: p.Version}}
}

func platform(arch string, pkgs []evidence.Package, fs ...evidence.Finding) catalog.Platform {
	return catalog.Platform{OS: "linux", Arch: arch, Digest: "sha256:" + strings.Repeat(arch[:1], 64),
		Evidence: &evidence.Set{Inventory: &evidence.Inventory{Packages: pkgs}, Vulns: &evidence.Report{Findings: fs}}}
}

func TestDiff(t *testing.T) {
	ssl1, ssl2 := pkg("deb", "libssl3", "3.0.11-1~deb12u2"), pkg("deb", "libssl3", "3.0.13-1~deb12u1")
	tz := pkg("deb", "tzdata", "2024a-0+deb12u1")
	curl := pkg("deb", "curl", "7.88.1-10+deb12u5")
	net1, net2, net3 := pkg("golang", "golang.org/x/net", "v0.7.0"), pkg("golang", "golang.org/x/net", "v0.23.0"), pkg("golang", "golang.org/x/net", "v0.17.0")
	a := &catalog.Version{Image: "web", Line: "1.0", Serial: 1, Platforms: []catalog.Platform{
		platform("amd64", []evidence.Package{ssl1, tz, curl, net1, net3},
			vuln("CVE-2024-0001", ssl1, evidence.StatusAffected), vuln("CVE-2024-0002", tz, evidence.StatusAffected),
			vuln("CVE-2024-0003", net1, evidence.StatusNotAffected)),
		platform("s390x", []evidence.Package{tz}),
	}}
	b := &catalog.Version{Image: "web", Line: "1.0", Serial: 2, Platforms: []catalog.Platform{
		platform("amd64", []evidence.Package{ssl2, tz, net2, net3, pkg("deb", "libcurl4", "7.88.1-10+deb12u5")},
			vuln("CVE-2024-0002", tz, evidence.StatusAffected), vuln("CVE-2024-0003", net2, evidence.StatusAffected),
			vuln("CVE-2025-0009", ssl2, evidence.StatusAffected)),
		platform("arm64", []evidence.Package{tz}),
	}}
	d := catalog.Diff(a, b)
	if d.From != "web@1.0-r1" || d.To != "web@1.0-r2" || !d.Differs() || len(d.Platforms) != 3 {
		t.Fatalf("diff: %+v", d)
	}
	amd, arm, s390 := d.Platforms[0], d.Platforms[1], d.Platforms[2]
	if amd.Platform != "linux/amd64" || amd.Only != "" {
		t.Fatalf("first platform %+v", amd)
	}
	names := func(ps []evidence.Package) string {
		var out []string
		for _, p := range ps {
			out = append(out, p.Name+" "+p.Version)
		}
		return strings.Join(out, "; ")
	}
	ids := func(fs []evidence.Finding) string {
		var out []string
		for _, f := range fs {
			out = append(out, f.ID)
		}
		return strings.Join(out, "; ")
	}
	if got := names(amd.Added); got != "libcurl4 7.88.1-10+deb12u5" {
		t.Errorf("added %q", got)
	}
	if got := names(amd.Removed); got != "curl 7.88.1-10+deb12u5" {
		t.Errorf("removed %q", got)
	}
	want := []catalog.PackageChange{
		{Name: "libssl3", Type: "deb", Ecosystem: "Debian:12", From: "3.0.11-1~deb12u2", To: "3.0.13-1~deb12u1"},
		{Name: "golang.org/x/net", Type: "golang", Ecosystem: "Go", From: "v0.17.0, v0.7.0", To: "v0.17.0, v0.23.0"},
	}
	if fmt.Sprint(amd.Changed) != fmt.Sprint(want) {
		t.Errorf("changed %+v\nwant %+v", amd.Changed, want)
	}
	// CVE-2024-0002 stays; 0001 is fixed; 0003 starts counting (it was VEX'd); 0009 is new.
	if got := ids(amd.Fixed); got != "CVE-2024-0001" {
		t.Errorf("fixed %q", got)
	}
	if got := ids(amd.Introduced); got != "CVE-2024-0003; CVE-2025-0009" {
		t.Errorf("introduced %q", got)
	}
	if arm.Platform != "linux/arm64" || arm.Only != "to" || names(arm.Added) != "tzdata 2024a-0+deb12u1" {
		t.Errorf("a platform only in the new version: %+v", arm)
	}
	if s390.Platform != "linux/s390x" || s390.Only != "from" || names(s390.Removed) != "tzdata 2024a-0+deb12u1" {
		t.Errorf("a platform only in the old version: %+v", s390)
	}
	if same := catalog.Diff(a, a); same.Differs() {
		t.Errorf("a version differs from itself: %+v", same)
	}
	noEvidence := &catalog.Version{Image: "web", Line: "1.0", Serial: 3, Platforms: []catalog.Platform{{OS: "linux", Arch: "amd64"}}}
	if d := catalog.Diff(noEvidence, a); len(d.Platforms[0].Added) != 5 {
		t.Errorf("from a version without evidence: %+v", d.Platforms[0])
	}
}
