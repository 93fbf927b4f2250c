package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ingot-build/ingot/internal/debtest"
	"github.com/ingot-build/ingot/internal/testrepo"
	"github.com/ingot-build/ingot/pkg/attest"
	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/harden"
	"github.com/ingot-build/ingot/pkg/pipeline"
	"github.com/ingot-build/ingot/pkg/sbom"
	"github.com/ingot-build/ingot/pkg/store"
)

// goGHSAData is the fixture of Go advisories beside the GHSA records they alias, shaped like
// osv.dev's Go export (see its README).
const goGHSAData = "../../pkg/vuln/testdata/goghsa/Go"

// goSBOM writes a CycloneDX SBOM of Go modules (name@version) and returns its path.
func goSBOM(t *testing.T, mods ...string) string {
	t.Helper()
	inv := &evidence.Inventory{Image: evidence.Image{Ref: "app:1"}}
	for _, m := range mods {
		name, version, _ := strings.Cut(m, "@")
		inv.Packages = append(inv.Packages, evidence.Package{Name: name, Version: version, Type: evidence.TypeGolang, PURL: "pkg:golang/" + name + "@" + version})
	}
	data, err := sbom.CycloneDX(inv, sbom.DocOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "app.cdx.json")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func scanJSON(t *testing.T, stdout string) evidence.Report {
	t.Helper()
	var r evidence.Report
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("scan -o json: %v\n%s", err, stdout)
	}
	return r
}

// TestScanGoSeverities: Go advisories, which carry no severity, are rated through the GHSA records
// they alias, so --fail-on high fails on them; an advisory nothing rates stays unknown in the report,
// and its gate counts it at --unknown-as (high by default).
func TestScanGoSeverities(t *testing.T) {
	data := t.TempDir()
	if _, stderr, err := run(t, "--data-dir", data, "db", "import", goGHSAData); err != nil {
		t.Fatalf("db import: %v\n%s", err, stderr)
	}
	// A binary built with Go 1.19.5 without golang.org/x/net: its GO-2023-1571 finding is rated
	// only through GHSA-vvpx-j8f3-3w6h, which affects x/net.
	stdlib := goSBOM(t, "stdlib@go1.19.5")
	unrated := goSBOM(t, "example.com/unrated@v1.0.0")

	stdout, _, err := run(t, "--data-dir", data, "scan", "--sbom", stdlib, "-o", "json", "--fail-on", "high", "--unknown-as", "low")
	if ExitCode(err) != ExitFindings {
		t.Errorf("stdlib go1.19.5 --fail-on high: exit %d (%v), want %d", ExitCode(err), err, ExitFindings)
	}
	r := scanJSON(t, stdout)
	if len(r.Findings) != 1 || r.Findings[0].ID != "GO-2023-1571" || r.Findings[0].Severity != evidence.SeverityHigh ||
		r.Findings[0].SeveritySource != "GHSA-vvpx-j8f3-3w6h (CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H)" {
		t.Errorf("stdlib findings = %+v, want GO-2023-1571 rated high by GHSA-vvpx-j8f3-3w6h", r.Findings)
	}

	for _, tc := range []struct {
		args []string
		exit int
		says string
	}{
		{[]string{"--fail-on", "high"}, ExitFindings, "1 finding(s) at or above high (1 of unknown severity, counted as high)"},
		{[]string{"--fail-on", "high", "--unknown-as", "low"}, ExitOK, ""},
		{[]string{"--fail-on", "critical"}, ExitOK, ""},
		{[]string{"--fail-on", "unknown", "--unknown-as", "unknown"}, ExitFindings, "1 finding(s) at or above unknown"},
		{[]string{"--fail-on", "negligible", "--unknown-as", "unknown"}, ExitOK, ""},
		{[]string{"--fail-on", "negligible"}, ExitFindings, "counted as high"},
	} {
		stdout, _, err := run(t, append([]string{"--data-dir", data, "scan", "--sbom", unrated, "-o", "json"}, tc.args...)...)
		if ExitCode(err) != tc.exit || (tc.says != "" && !strings.Contains(fmtErr(err), tc.says)) {
			t.Errorf("unrated %v: exit %d (%v), want %d saying %q", tc.args, ExitCode(err), err, tc.exit, tc.says)
		}
		r := scanJSON(t, stdout)
		if len(r.Findings) != 1 || r.Findings[0].Severity != evidence.SeverityUnknown || r.Findings[0].SeveritySource != "" {
			t.Errorf("unrated %v: findings = %+v, want GO-2099-0003 left unknown", tc.args, r.Findings)
		}
	}

	// The table says at which level the unknown finding was counted.
	stdout, _, _ = run(t, "--data-dir", data, "scan", "--sbom", unrated)
	if !strings.Contains(stdout, "1 unknown (counted as high)") {
		t.Errorf("table summary does not say how the unknown finding counts:\n%s", stdout)
	}
}

// debianPackages is a Debian 12 image: os-release names the release, as Debian's base-files does.
func debianPackages() []debtest.Package {
	return []debtest.Package{
		{Name: "base-files", Version: "12.4+deb12u1", Arch: "all", Files: []debtest.File{
			{Path: "usr/lib/os-release", Body: []byte("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\nID=debian\n")},
			{Path: "etc/os-release", Symlink: "../usr/lib/os-release"},
		}},
		{Name: "tzdata", Version: "2024a-0+deb12u1", Arch: "all", Files: []debtest.File{{Path: "usr/share/zoneinfo/UTC", Body: []byte("TZif2 fake")}}},
		{Name: "netbase", Version: "6.4", Arch: "all", Files: []debtest.File{{Path: "etc/protocols", Body: []byte("ip 0 IP\n")}}},
	}
}

const debianSpec = `name: deb
version: "1"
repositories: [{url: {{URL}}, suite: stable, keyring: {{KEYRING}}}]
packages: [base-files, tzdata, netbase]
`

// TestScanCoverage: a Debian image scanned with only Go data imported is not reported clean: every
// output says its Debian:12 packages were not checked, --require-data fails the scan (exit 3) and
// evidence.require-data the build.
func TestScanCoverage(t *testing.T) {
	repo := testrepo.New(t, testrepo.Options{Packages: debianPackages()})
	dir := writeSpec(t, repo, debianSpec)
	data := t.TempDir()
	if _, stderr, err := run(t, "--data-dir", data, "db", "import", goGHSAData); err != nil {
		t.Fatalf("db import: %v\n%s", err, stderr)
	}
	_, stderr, err := run(t, "--data-dir", data, "build", dir)
	if err != nil {
		t.Fatalf("build: %v\n%s", err, stderr)
	}
	const notChecked = "Debian:12 (3 packages, no data for Debian:12 or Debian)"
	if !strings.Contains(stderr, "not checked: "+notChecked) {
		t.Errorf("build summary does not say Debian was not checked:\n%s", stderr)
	}

	stdout, _, err := run(t, "--data-dir", data, "scan", "deb:1")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"deb:1: no findings; 3 of 3 packages not checked\n", "not checked: " + notChecked + "\n"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, stdout)
		}
	}

	stdout, _, err = run(t, "--data-dir", data, "scan", "deb:1", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	want := []evidence.Coverage{{Ecosystem: "Debian:12", Packages: 3, Reason: "no data for Debian:12 or Debian"}}
	if r := scanJSON(t, stdout); len(r.Coverage) != 1 || r.Coverage[0].String() != want[0].String() {
		t.Errorf("json coverage = %+v, want %+v", r.Coverage, want)
	}

	stdout, _, err = run(t, "--data-dir", data, "scan", "deb:1", "-o", "sarif")
	if err != nil {
		t.Fatal(err)
	}
	var log struct {
		Runs []struct {
			Invocations []struct {
				ToolExecutionNotifications []struct{ Message struct{ Text string } } `json:"toolExecutionNotifications"`
			} `json:"invocations"`
			Properties struct {
				Coverage []evidence.Coverage `json:"coverage"`
			} `json:"properties"`
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(stdout), &log); err != nil {
		t.Fatal(err)
	}
	if run := log.Runs[0]; len(run.Properties.Coverage) != 1 || run.Properties.Coverage[0].Checked() ||
		len(run.Invocations) != 1 || len(run.Invocations[0].ToolExecutionNotifications) != 1 ||
		run.Invocations[0].ToolExecutionNotifications[0].Message.Text != "not checked: "+notChecked {
		t.Errorf("SARIF does not say Debian was not checked: %+v", log.Runs)
	}

	// The cosign predicate, from scan and from the recorded evidence that build --sign attests.
	stdout, _, err = run(t, "--data-dir", data, "scan", "deb:1", "-o", "cosign-vuln")
	if err != nil {
		t.Fatal(err)
	}
	checkPredicateCoverage(t, "scan -o cosign-vuln", []byte(stdout), notChecked)
	a, err := store.Store{Root: data}.Layouts().Read("deb", "1")
	if err != nil {
		t.Fatal(err)
	}
	d, err := a.Image.Digest()
	if err != nil {
		t.Fatal(err)
	}
	set, err := store.Store{Root: data}.ReadEvidence(d)
	if err != nil {
		t.Fatal(err)
	}
	preds, err := attest.Predicates(set)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range preds {
		if p.Type == attest.Vuln {
			found = true
			checkPredicateCoverage(t, "recorded evidence", p.JSON, notChecked)
		}
	}
	if !found {
		t.Error("the recorded evidence has no vuln predicate")
	}

	// --require-data: the same scan fails, like findings at --fail-on.
	_, _, err = run(t, "--data-dir", data, "scan", "deb:1", "--require-data")
	if ExitCode(err) != ExitFindings || !strings.Contains(fmtErr(err), notChecked) {
		t.Errorf("scan --require-data: exit %d (%v), want %d naming Debian:12", ExitCode(err), err, ExitFindings)
	}
	// evidence.require-data: the build fails, and stores nothing.
	dir2 := writeSpec(t, repo, strings.Replace(debianSpec, "name: deb", "name: deb2", 1)+"evidence: {require-data: true}\n")
	_, _, err = run(t, "--data-dir", data, "build", dir2)
	if err == nil || !strings.Contains(err.Error(), "evidence.require-data") || !strings.Contains(err.Error(), notChecked) {
		t.Errorf("build with require-data: %v, want a failure naming Debian:12", err)
	}
	if _, err := os.Stat(store.Store{Root: data}.Layouts().Dir("deb2")); err == nil {
		t.Error("an image that failed require-data was stored")
	}
}

// checkPredicateCoverage finds the coverage in a cosign vuln predicate where cosign keeps it: in
// scanner.result, which cosign's own type carries through cosign attest --type vuln.
func checkPredicateCoverage(t *testing.T, what string, data []byte, notChecked string) {
	t.Helper()
	var p struct {
		Scanner struct {
			Result evidence.Report `json:"result"`
		} `json:"scanner"`
	}
	if err := json.Unmarshal(data, &p); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	un := evidence.Unchecked(p.Scanner.Result.Coverage)
	if len(un) != 1 || un[0].String() != notChecked {
		t.Errorf("%s: predicate coverage = %+v, want %s not checked", what, p.Scanner.Result.Coverage, notChecked)
	}
}

// TestSpecEvidenceRefused: mistakes in the spec's evidence section are refused (exit 2, naming the
// field) before the repository is asked for anything, by lock and by build, with or without a lock.
func TestSpecEvidenceRefused(t *testing.T) {
	repo := testrepo.New(t, testrepo.Options{Packages: fixturePackages()})
	const goodVEX = `{"@context": "https://openvex.dev/ns/v0.2.0", "@id": "https://example.com/vex/1", "author": "t", "timestamp": "2024-01-01T00:00:00Z", "version": 1, "statements": []}`
	for _, tc := range []struct {
		name, evidence string
		files          map[string]string
		want           string
	}{
		{"bad fail-on", "{fail-on: severe}", nil, `evidence.fail-on: "severe" is not a level`},
		{"bad unknown-as", "{unknown-as: dangerous}", nil, `evidence.unknown-as: "dangerous" is not a level`},
		{"unknown waiver rule", "{waivers: [{rule: INGOT-H999, reason: typo}]}", nil, `evidence.waivers[0].rule: "INGOT-H999" is not a hardening rule`},
		{"missing tests", "{tests: tests.yaml}", nil, `evidence.tests: "tests.yaml" does not exist`},
		{"unparsable tests", "{tests: tests.yaml}", map[string]string{"tests.yaml": "fileExistenceTests: {name: [\n"}, "evidence.tests: tests.yaml: "},
		{"missing vex", "{vex: [a.openvex.json, b.openvex.json]}", map[string]string{"a.openvex.json": goodVEX}, `evidence.vex[1]: "b.openvex.json" does not exist`},
		{"malformed vex", "{vex: [a.openvex.json]}", map[string]string{"a.openvex.json": "{\"statements\": 3"}, "evidence.vex[0]: a.openvex.json: "},
	} {
		for _, verb := range []string{"lock", "build", "build with a lock"} {
			t.Run(tc.name+"/"+verb, func(t *testing.T) {
				dir := writeSpec(t, repo, specTemplate)
				if verb == "build with a lock" {
					// A lock made while the spec was right: build goes straight to fetching packages.
					if _, stderr, err := run(t, "--data-dir", t.TempDir(), "lock", dir); err != nil {
						t.Fatalf("lock: %v\n%s", err, stderr)
					}
				}
				body, err := os.ReadFile(filepath.Join(dir, "ingot.yaml"))
				if err != nil {
					t.Fatal(err)
				}
				body = append(body, "evidence: "+tc.evidence+"\n"...)
				files := map[string]string{"ingot.yaml": string(body)}
				for name, content := range tc.files {
					files[name] = content
				}
				for name, content := range files {
					if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				before := len(repo.Requests())
				data := filepath.Join(t.TempDir(), "data")
				_, _, err = run(t, "--data-dir", data, strings.Fields(verb)[0], dir)
				if ExitCode(err) != ExitUsage || !strings.Contains(fmtErr(err), tc.want) {
					t.Errorf("exit %d, %v; want exit 2 saying %q", ExitCode(err), err, tc.want)
				}
				if n := len(repo.Requests()) - before; n > 0 {
					t.Errorf("the repository was asked %d times before the spec was refused: %v", n, repo.Requests()[before:])
				}
				entries, _ := os.ReadDir(data)
				for _, e := range entries {
					t.Errorf("a refused spec left %s in the data directory", e.Name())
				}
			})
		}
	}
}

// TestFailOnNone: evidence.fail-on: none means secrets do not fail the build, the secrets hardening
// rule included: the image builds, the secret is still reported, and lint.json shows the rule waived
// with the reason. Without it, the same image fails.
func TestFailOnNone(t *testing.T) {
	pkgs := append(debianPackages(), debtest.Package{Name: "app", Version: "1.0-1", Arch: "all", Files: []debtest.File{
		{Path: "etc/app/credentials", Body: []byte("https://ci:" + secretsFakeGitHub + "@github.com\n")},
	}})
	repo := testrepo.New(t, testrepo.Options{Packages: pkgs})
	spec := strings.Replace(debianSpec, "netbase]", "netbase, app]", 1)
	data := t.TempDir()

	// The default threshold (critical) is above the token's severity (high), but the secrets rule
	// fails on any secret.
	_, _, err := run(t, "--data-dir", data, "build", writeSpec(t, repo, spec))
	if err == nil || !strings.Contains(err.Error(), harden.RuleSecrets) {
		t.Fatalf("build with a secret and the default fail-on = %v, want the secrets rule to fail it", err)
	}

	_, stderr, err := run(t, "--data-dir", data, "build", writeSpec(t, repo, spec+"evidence: {fail-on: none}\n"))
	if err != nil {
		t.Fatalf("build with fail-on: none = %v (exit %d)\n%s", err, ExitCode(err), stderr)
	}
	a, err := store.Store{Root: data}.Layouts().Read("deb", "1")
	if err != nil {
		t.Fatal(err)
	}
	d, err := a.Image.Digest()
	if err != nil {
		t.Fatal(err)
	}
	evDir := store.Store{Root: data}.EvidenceDir("deb", d)
	read := func(name string) evidence.Report {
		var r evidence.Report
		b, err := os.ReadFile(filepath.Join(evDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	reported := false
	for _, f := range read("secrets.json").Findings {
		reported = reported || (f.Status == evidence.StatusAffected && len(f.Locations) > 0 && f.Locations[0].Path == "/etc/app/credentials")
	}
	if !reported {
		t.Error("secrets.json does not report the token")
	}
	var rule *evidence.Finding
	for _, f := range read("lint.json").Findings {
		if f.ID == harden.RuleSecrets {
			rule = &f
		}
	}
	if rule == nil || rule.Status != evidence.StatusWaived || rule.Reason != pipeline.FailOnNoneReason {
		t.Errorf("lint.json's %s = %+v, want waived with %q", harden.RuleSecrets, rule, pipeline.FailOnNoneReason)
	}

	// The verbs take unknown as a level too: any finding that counts fails.
	if _, _, err := run(t, "--data-dir", data, "secrets", "deb:1", "--fail-on", "unknown"); ExitCode(err) != ExitFindings {
		t.Errorf("secrets --fail-on unknown: exit %d (%v), want %d", ExitCode(err), err, ExitFindings)
	}
	if _, _, err := run(t, "--data-dir", data, "lint", "deb:1", "--fail-on", "unknown"); ExitCode(err) != ExitFindings {
		t.Errorf("lint --fail-on unknown: exit %d (%v), want %d", ExitCode(err), err, ExitFindings)
	}
}
