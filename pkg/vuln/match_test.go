package vuln

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ingot-build/ingot/pkg/evidence"
)

// fixtureDB imports testdata/osv into a fresh database.
func fixtureDB(t testing.TB) *DB {
	t.Helper()
	db := &DB{Dir: filepath.Join(t.TempDir(), "vulndb")}
	if _, err := db.Import(context.Background(), "testdata/osv", ImportOptions{Name: "fixtures"}); err != nil {
		t.Fatal(err)
	}
	return db
}

// got is the part of a finding the table checks.
type got struct {
	ID       string
	Aliases  string
	Package  string // name@version
	Source   string
	Fixed    string
	Severity evidence.Severity
}

func project(fs []evidence.Finding) []got {
	var out []got
	for _, f := range fs {
		if f.Kind != evidence.KindVulnerability || f.Status != evidence.StatusAffected {
			panic("unexpected kind or status " + f.Kind + " " + f.Status)
		}
		out = append(out, got{
			ID: f.ID, Aliases: strings.Join(f.Aliases, ","), Package: f.Package.Name + "@" + f.Package.Version,
			Source: f.Package.Source, Fixed: f.FixedVersion, Severity: f.Severity,
		})
	}
	return out
}

func TestMatchFixtures(t *testing.T) {
	db := fixtureDB(t)
	debian := &evidence.Distro{ID: "debian", VersionID: "12"}
	deb := func(name, version, source, sourceVersion string) evidence.Package {
		return evidence.Package{Name: name, Version: version, Type: evidence.TypeDeb, Source: source, SourceVersion: sourceVersion}
	}
	tests := []struct {
		name   string
		distro *evidence.Distro
		pkgs   []evidence.Package
		want   []got
	}{{
		name:   "binary packages match through their source; aliases merge; fixed and last_affected",
		distro: debian,
		pkgs: []evidence.Package{
			deb("libssl3", "3.0.11-1~deb12u2", "openssl", "3.0.11-1~deb12u2"),
			deb("openssl", "3.0.11-1~deb12u2", "", ""),
		},
		want: []got{
			{"CVE-2024-0727", "DSA-5600-1", "libssl3@3.0.11-1~deb12u2", "openssl", "3.0.13-1~deb12u1", evidence.SeverityMedium},
			{"DEBIAN-CVE-2023-5678", "", "libssl3@3.0.11-1~deb12u2", "openssl", "", evidence.SeverityLow},
			{"CVE-2024-0727", "DSA-5600-1", "openssl@3.0.11-1~deb12u2", "", "3.0.13-1~deb12u1", evidence.SeverityMedium},
			{"DEBIAN-CVE-2023-5678", "", "openssl@3.0.11-1~deb12u2", "", "", evidence.SeverityLow},
		},
	}, {
		name:   "the source version, not the binary's binNMU version, is compared",
		distro: debian,
		pkgs:   []evidence.Package{deb("libssl3", "3.0.13-1~deb12u1+b1", "openssl", "3.0.11-1~deb12u2")},
		want: []got{
			{"CVE-2024-0727", "DSA-5600-1", "libssl3@3.0.13-1~deb12u1+b1", "openssl", "3.0.13-1~deb12u1", evidence.SeverityMedium},
			{"DEBIAN-CVE-2023-5678", "", "libssl3@3.0.13-1~deb12u1+b1", "openssl", "", evidence.SeverityLow},
		},
	}, {
		name:   "dpkg's Source: name (version) form",
		distro: debian,
		pkgs:   []evidence.Package{deb("libssl3", "3.0.13-1~deb12u1+b1", "openssl (3.0.11-1~deb12u2)", "")},
		want: []got{
			{"CVE-2024-0727", "DSA-5600-1", "libssl3@3.0.13-1~deb12u1+b1", "openssl", "3.0.13-1~deb12u1", evidence.SeverityMedium},
			{"DEBIAN-CVE-2023-5678", "", "libssl3@3.0.13-1~deb12u1+b1", "openssl", "", evidence.SeverityLow},
		},
	}, {
		name:   "a fixed version at or below the installed one, a later last_affected, a withdrawn record: nothing",
		distro: debian,
		pkgs:   []evidence.Package{deb("openssl", "3.0.13-1~deb12u1", "", "")},
	}, {
		name:   "epochs and tildes",
		distro: debian,
		pkgs:   []evidence.Package{deb("libfoo1", "1:2.0~rc1-1", "libfoo", "")},
		want: []got{
			{"DEBIAN-CVE-2024-1001", "", "libfoo1@1:2.0~rc1-1", "libfoo", "1:2.0-1", evidence.SeverityCritical},
			{"DEBIAN-CVE-2024-1003", "", "libfoo1@1:2.0~rc1-1", "libfoo", "1:2.0~rc2-1", evidence.SeverityHigh},
		},
	}, {
		name:   "an ecosystem without release matches any Debian, another release does not",
		distro: debian,
		pkgs:   []evidence.Package{deb("bash", "5.2.15-2", "", "")},
		want:   []got{{"DEBIAN-CVE-2024-2001", "", "bash@5.2.15-2", "", "5.2.15-3", evidence.SeverityHigh}},
	}, {
		name:   "Debian 11 sees its own advisory and the release-less one",
		distro: &evidence.Distro{ID: "debian", VersionID: "11"},
		pkgs:   []evidence.Package{deb("bash", "5.1-2", "", "")},
		want: []got{
			{"DEBIAN-CVE-2024-2001", "", "bash@5.1-2", "", "5.2.15-3", evidence.SeverityHigh},
			{"DEBIAN-CVE-2024-2002", "", "bash@5.1-2", "", "5.2.99-1", evidence.SeverityUnknown},
		},
	}, {
		name:   "the lowest fix above the installed version across ranges; git ranges ignored",
		distro: debian,
		pkgs:   []evidence.Package{deb("zlib1g", "1:1.2.13.dfsg-3", "zlib", "")},
		want:   []got{{"DEBIAN-CVE-2024-3001", "", "zlib1g@1:1.2.13.dfsg-3", "zlib", "1:1.2.13.dfsg-4", evidence.SeverityMedium}},
	}, {
		name:   "Ecosystem on the package wins over the distro",
		distro: nil,
		pkgs:   []evidence.Package{{Name: "bash", Version: "5.2.15-2", Type: evidence.TypeDeb, Ecosystem: "debian:12"}},
		want:   []got{{"DEBIAN-CVE-2024-2001", "", "bash@5.2.15-2", "", "5.2.15-3", evidence.SeverityHigh}},
	}, {
		name:   "Alpine: release from os-release, origin package, apk suffixes",
		distro: &evidence.Distro{ID: "alpine", VersionID: "3.19.1"},
		pkgs: []evidence.Package{
			{Name: "libcrypto3", Version: "3.1.4-r4", Type: evidence.TypeAPK, Source: "openssl"},
			{Name: "busybox", Version: "1.36.1_beta2-r0", Type: evidence.TypeAPK, Source: "busybox"},
		},
		want: []got{
			{"ALPINE-CVE-2024-0727", "", "libcrypto3@3.1.4-r4", "openssl", "3.1.4-r5", evidence.SeverityUnknown},
			{"ALPINE-CVE-2024-4001", "", "busybox@1.36.1_beta2-r0", "", "1.36.1_rc1-r0", evidence.SeverityUnknown},
		},
	}, {
		name:   "Ubuntu: dpkg ordering, source packages, LTS releases",
		distro: &evidence.Distro{ID: "ubuntu", VersionID: "22.04"},
		pkgs: []evidence.Package{
			deb("libssl3", "3.0.2-0ubuntu1.12", "openssl", ""),
			deb("openssl", "3.0.2-0ubuntu1.14", "", ""),
		},
		want: []got{{"UBUNTU-CVE-2024-0727", "", "libssl3@3.0.2-0ubuntu1.12", "openssl", "3.0.2-0ubuntu1.14", evidence.SeverityLow}},
	}, {
		name: "npm: semver ranges and pre-releases, a record with no ranges",
		pkgs: []evidence.Package{
			{Name: "lodash", Version: "4.17.20", Type: evidence.TypeNPM},
			{Name: "lodash", Version: "4.17.21", Type: evidence.TypeNPM},
			{Name: "left-pad", Version: "1.0.0-rc.1", Type: evidence.TypeNPM},
			{Name: "left-pad", Version: "1.0.0-beta.1", Type: evidence.TypeNPM},
			{Name: "evil-pkg", Version: "0.0.1", Type: evidence.TypeNPM},
		},
		want: []got{
			{"GHSA-35jh-r3h4-6jhm", "CVE-2021-23337", "lodash@4.17.20", "", "4.17.21", evidence.SeverityHigh},
			{"GHSA-aaaa-bbbb-cccc", "", "left-pad@1.0.0-rc.1", "", "1.0.0", evidence.SeverityMedium},
			{"GHSA-dddd-eeee-ffff", "", "evil-pkg@0.0.1", "", "", evidence.SeverityUnknown},
		},
	}, {
		name: "PyPI: PEP 440, normalised names, versions lists, records sharing an alias",
		pkgs: []evidence.Package{
			{Name: "Django", Version: "4.2.7", Type: evidence.TypePyPI},
			{Name: "django", Version: "4.2rc1", Type: evidence.TypePyPI},
			{Name: "jinja2", Version: "2.10.0", Type: evidence.TypePyPI},
			{Name: "jinja2", Version: "2.11", Type: evidence.TypePyPI},
		},
		want: []got{
			{"GHSA-qmf9-6jqf-j8fq", "CVE-2023-46695,PYSEC-2023-225", "Django@4.2.7", "", "4.2.8", evidence.SeverityCritical},
			{"PYSEC-2019-217", "", "jinja2@2.10.0", "", "", evidence.SeverityUnknown},
		},
	}, {
		name:   "unreadable versions and unknown types match nothing",
		distro: debian,
		pkgs: []evidence.Package{
			deb("openssl", "not a version", "", ""),
			{Name: "lodash", Version: "(devel)", Type: evidence.TypeNPM},
			{Name: "openssl", Version: "3.0.0", Type: "generic"},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := &evidence.Inventory{Distro: tt.distro, Packages: tt.pkgs}
			fs, err := db.Match(context.Background(), inv)
			if err != nil {
				t.Fatal(err)
			}
			if g := project(fs); !reflect.DeepEqual(g, tt.want) {
				t.Errorf("findings:\n got %+v\nwant %+v", g, tt.want)
			}
		})
	}
}

func TestMatchFindingDetail(t *testing.T) {
	db := fixtureDB(t)
	inv := &evidence.Inventory{
		Distro: &evidence.Distro{ID: "debian", VersionID: "12"},
		Packages: []evidence.Package{{
			Name: "libssl3", Version: "3.0.11-1~deb12u2", Type: evidence.TypeDeb, Source: "openssl",
			PURL: "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12", Layer: "sha256:aaa",
			Locations: []string{"/var/lib/dpkg/status"},
		}, {
			// The same package recorded again in a later layer is reported once, with both places.
			Name: "libssl3", Version: "3.0.11-1~deb12u2", Type: evidence.TypeDeb, Source: "openssl",
			Layer: "sha256:bbb", Locations: []string{"/var/lib/dpkg/status.d/libssl3"},
		}},
	}
	fs, err := db.Match(context.Background(), inv)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(fs, func(f evidence.Finding) bool { return f.ID == "CVE-2024-0727" })
	if i < 0 || len(fs) != 2 {
		t.Fatalf("findings = %+v", fs)
	}
	want := evidence.Finding{
		Kind: evidence.KindVulnerability, ID: "CVE-2024-0727", Aliases: []string{"DSA-5600-1"},
		Severity: evidence.SeverityMedium, Status: evidence.StatusAffected,
		Title:       "openssl security update",
		Description: "Processing a maliciously formatted PKCS12 file may lead OpenSSL to crash.\nMore text.",
		Package: &evidence.PackageRef{
			Name: "libssl3", Version: "3.0.11-1~deb12u2", Type: evidence.TypeDeb, Source: "openssl",
			PURL: "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12",
		},
		FixedVersion: "3.0.13-1~deb12u1",
		Published:    time.Date(2024, 2, 1, 10, 0, 0, 0, time.UTC),
		CVSS:         []evidence.CVSS{{Version: "3.1", Vector: "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:N/A:H", Score: 5.9}},
		Locations: []evidence.Location{
			{Layer: "sha256:aaa", Path: "/var/lib/dpkg/status"},
			{Layer: "sha256:bbb", Path: "/var/lib/dpkg/status.d/libssl3"},
		},
		References: []string{"https://security.example/CVE-2024-0727", "https://security.example/DSA-5600-1"},
	}
	if !reflect.DeepEqual(fs[i], want) {
		t.Errorf("finding:\n got %+v\nwant %+v", fs[i], want)
	}
}

func TestMatchWithoutData(t *testing.T) {
	db := &DB{Dir: filepath.Join(t.TempDir(), "vulndb")}
	_, err := db.Match(context.Background(), &evidence.Inventory{Packages: []evidence.Package{{Name: "a", Version: "1.0.0", Type: evidence.TypeNPM}}})
	if !errors.Is(err, ErrNoData) {
		t.Fatalf("Match on an empty database: %v, want ErrNoData", err)
	}
}

// TestCoverage: each ecosystem of the inventory is listed with the data its packages are checked
// against (its own and the release-less one), or why they are not checked.
func TestCoverage(t *testing.T) {
	db := fixtureDB(t)
	st, err := db.Status()
	if err != nil {
		t.Fatal(err)
	}
	records := map[string]int{}
	for _, e := range st.Sources[0].Ecosystems {
		records[e.Name] = e.Records
	}
	inv := &evidence.Inventory{
		Distro: &evidence.Distro{ID: "debian", VersionID: "13"},
		Packages: []evidence.Package{
			{Name: "bash", Version: "5.2", Type: evidence.TypeDeb},                   // "Debian" covers Debian:13
			{Name: "x", Version: "1.0.0", Type: evidence.TypeGolang},                 // no Go data in the fixtures
			{Name: "y", Version: "1.0.0", Type: evidence.TypeNPM},                    //
			{Name: "z", Version: "1.0", Type: evidence.TypeAPK, Ecosystem: "Alpine"}, // the fixtures have Alpine releases only
			{Name: "w", Version: "1.0", Type: evidence.TypePyPI},                     //
			{Name: "v", Version: "1.0.0", Type: evidence.TypeGolang},                 // counted with x
			{Name: "u", Version: "1.0", Type: evidence.TypeAPK},                      // apk on Debian: no ecosystem
		},
	}
	got, err := db.Coverage(inv)
	if err != nil {
		t.Fatal(err)
	}
	src := func(eco string) []evidence.CoverageSource {
		return []evidence.CoverageSource{{Name: "fixtures", Ecosystem: eco, Records: records[eco]}}
	}
	want := []evidence.Coverage{
		{Ecosystem: "Alpine", Packages: 1, Reason: "no data for Alpine"},
		{Ecosystem: "Debian:13", Packages: 1, Sources: src("Debian")},
		{Ecosystem: "Go", Packages: 2, Reason: "no data for Go"},
		{Ecosystem: "PyPI", Packages: 1, Sources: src("PyPI")},
		{Ecosystem: "apk", Packages: 1, Reason: "no OSV ecosystem for apk packages of debian"},
		{Ecosystem: "npm", Packages: 1, Sources: src("npm")},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Coverage =\n%+v\nwant\n%+v", got, want)
	}
	for _, c := range want {
		if c.Sources != nil && c.Sources[0].Records == 0 {
			t.Errorf("the fixtures have no %s records: the test proves nothing about %s", c.Sources[0].Ecosystem, c.Ecosystem)
		}
	}

	empty := &DB{Dir: filepath.Join(t.TempDir(), "vulndb")}
	got, err = empty.Coverage(inv)
	if err != nil || len(got) != len(want) || got[1].Reason != "no vulnerability data imported" {
		t.Errorf("Coverage without data = %+v, %v", got, err)
	}
}
