package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/spec"
	"github.com/ingot-build/ingot/pkg/store"
)

func fakeDigest(seed string) string {
	sum := sha256.Sum256([]byte(seed))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// catalogFixture is a data directory whose catalog holds web 1.0-r1 and 1.0-r2 (an upgrade of libssl3
// that fixes a critical finding) and api 2.0-r1, all published.
func catalogFixture(t *testing.T) string {
	t.Helper()
	data := t.TempDir()
	ctx := context.Background()
	c, err := store.Store{Root: data}.Catalog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }() // the fixture is written; a failed close shows in the verbs
	ssl := func(v string) evidence.Package {
		return evidence.Package{Name: "libssl3", Version: v, Type: evidence.TypeDeb, Ecosystem: "Debian:12", Source: "openssl", SourceVersion: v,
			PURL: "pkg:deb/debian/libssl3@" + v}
	}
	tz := evidence.Package{Name: "tzdata", Version: "2024a-0+deb12u1", Type: evidence.TypeDeb, Ecosystem: "Debian:12"}
	curl := evidence.Package{Name: "curl", Version: "7.88.1-10+deb12u5", Type: evidence.TypeDeb, Ecosystem: "Debian:12"}
	crit := evidence.Finding{Kind: evidence.KindVulnerability, ID: "CVE-2024-5535", Severity: evidence.SeverityCritical, Status: evidence.StatusAffected,
		FixedVersion: "3.0.13-1~deb12u1", Package: &evidence.PackageRef{Name: "libssl3", Version: "3.0.11-1~deb12u2"}}
	med := evidence.Finding{Kind: evidence.KindVulnerability, ID: "CVE-2024-0002", Severity: evidence.SeverityMedium, Status: evidence.StatusAffected,
		Package: &evidence.PackageRef{Name: "tzdata", Version: tz.Version}}
	add := func(image, line, seed string, at time.Time, pkgs []evidence.Package, fs ...evidence.Finding) {
		d := fakeDigest(seed)
		v, _, err := c.Begin(ctx, &catalog.Version{Image: image, Line: line, Digest: d, Reason: "ingot build", Built: at,
			Spec: []byte("name: " + image), Platforms: []catalog.Platform{{OS: "linux", Arch: "amd64", Digest: d,
				Evidence: &evidence.Set{Inventory: &evidence.Inventory{Packages: pkgs}, Vulns: &evidence.Report{Findings: fs}}}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Publish(ctx, v.ID, catalog.Publication{At: at, Actor: "ci", Grace: 24 * time.Hour,
			Locations: []catalog.Location{{Kind: catalog.LocationLayout, Ref: "oci/" + image + ":" + v.Tag()}},
			Artifacts: []catalog.Artifact{{Kind: catalog.ArtifactSignature, Format: "bundle", Subject: d, KeyID: "key1", Ref: "reg.test/" + image + "@sha256:5151"}},
		}); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	add("web", "1.0", "web-r1", t0, []evidence.Package{ssl("3.0.11-1~deb12u2"), tz, curl}, crit, med)
	add("web", "1.0", "web-r2", t0.Add(time.Hour), []evidence.Package{ssl("3.0.13-1~deb12u1"), tz}, med)
	add("api", "2.0", "api-r1", t0, []evidence.Package{ssl("3.0.13-1~deb12u1")})
	return data
}

func TestCatalogVerbs(t *testing.T) {
	data := catalogFixture(t)
	cat := func(args ...string) (string, error) {
		t.Helper()
		out, _, err := run(t, append([]string{"--data-dir", data, "catalog"}, args...)...)
		return out, err
	}
	must := func(args ...string) string {
		t.Helper()
		out, err := cat(args...)
		if err != nil {
			t.Fatalf("ingot catalog %s: %v", strings.Join(args, " "), err)
		}
		return out
	}
	exit := func(code int, args ...string) string {
		t.Helper()
		out, err := cat(args...)
		if got := ExitCode(err); got != code {
			t.Errorf("ingot catalog %s: exit %d (%v), want %d", strings.Join(args, " "), got, err, code)
		}
		if err != nil {
			return err.Error()
		}
		return out
	}
	contains := func(what, out string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: no %q in\n%s", what, w, out)
			}
		}
	}

	out := must("ls")
	contains("ls", out, "IMAGE", "web", "1.0-r2", "1.0-r1", "api", "2.0-r1", "linux/amd64", "deprecated from 2025-03-02 13:00:00")
	var listed []catalog.Version
	if err := json.Unmarshal([]byte(must("ls", "web", "-o", "json")), &listed); err != nil || len(listed) != 2 || listed[0].Tag() != "1.0-r2" {
		t.Errorf("ls web -o json: %d versions (%v)", len(listed), err)
	}
	contains("ls --status revoked", must("ls", "--status", "revoked"), "no versions")

	out = must("show", "web@1.0-r1")
	contains("show", out, fakeDigest("web-r1"), "active since 2025-03-01 12:00:00 by ci", "3 packages", "1 critical, 1 medium",
		"layout", "oci/web:1.0-r1", "signature", "key1", "published", "ingot build")
	var whole catalog.Version
	if err := json.Unmarshal([]byte(must("show", "web", "-o", "json")), &whole); err != nil || whole.Tag() != "1.0-r2" ||
		whole.Platforms[0].Evidence == nil || len(whole.Platforms[0].Evidence.Inventory.Packages) != 2 || string(whole.Spec) != "name: web" {
		t.Errorf("show web -o json: the whole record of the newest active version: %+v (%v)", whole, err)
	}

	exit(ExitUsage, "revoke", "web@1.0-r1")                                // no reason
	exit(ExitUsage, "revoke", "web", "--reason", "x")                      // no version
	exit(ExitUsage, "revoke", "web@1.0-r1", "--reason", "x", "-o", "yaml") // bad output
	contains("revoke of an unknown tag", exit(ExitFailure, "revoke", "web@1.0-r9", "--reason", "x"), "not found")
	out = must("revoke", "web@1.0-r1", "--reason", "CVE-2024-5535 is exploited", "--actor", "alice")
	contains("revoke", out, "web@1.0-r1: active -> revoked")
	contains("revoke twice", exit(ExitFailure, "revoke", "web@1.0-r1", "--reason", "again"), "already revoked")
	contains("deprecate a revoked version", exit(ExitFailure, "deprecate", "web@1.0-r1", "--reason", "x"), "restore it first")
	out = must("history", "web@1.0-r1")
	contains("history", out, "published", "active -> revoked", "alice", "CVE-2024-5535 is exploited")
	var evs []catalog.Event
	if err := json.Unmarshal([]byte(must("restore", "web@1.0-r1", "--reason", "false alarm", "-o", "json")), &evs); err == nil {
		t.Errorf("restore -o json printed a list, want one event")
	}
	if err := json.Unmarshal([]byte(must("history", "web", "-o", "json")), &evs); err != nil || len(evs) != 4 {
		t.Errorf("history web -o json: %d events (%v), want 4", len(evs), err)
	} else if last := evs[3]; last.From != catalog.StatusRevoked || last.Status != catalog.StatusActive || last.Reason != "false alarm" || last.Actor == "" {
		t.Errorf("restore event: %+v (the actor defaults to the OS user)", last)
	}
	contains("eol", must("eol", "api@2.0", "--reason", "2.x retired"), "api@2.0-r1: active -> eol")
	contains("ls eol", must("ls", "--status", "eol,revoked"), "api", "eol")

	out = must("diff", "web@1.0-r1", "web@1.0-r2")
	contains("diff", out, "web@1.0-r1 -> web@1.0-r2", "~ libssl3 3.0.11-1~deb12u2 -> 3.0.13-1~deb12u1", "- curl", "fixed       CVE-2024-5535 (critical)")
	if strings.Contains(out, "CVE-2024-0002") {
		t.Errorf("diff lists a finding both versions have:\n%s", out)
	}
	var d catalog.VersionDiff
	if err := json.Unmarshal([]byte(must("diff", "web@1.0-r1", "web@1.0-r1", "-o", "json")), &d); err != nil || d.Differs() {
		t.Errorf("a version against itself: %+v %v", d, err)
	}

	out = must("query", "--package", "openssl", "--version-range", "<3.0.13-1~deb12u1")
	contains("query", out, "web", "1.0-r1", "libssl3", "3.0.11-1~deb12u2")
	if strings.Contains(out, "api") || strings.Contains(out, "1.0-r2") {
		t.Errorf("query matched versions outside the range:\n%s", out)
	}
	var exp []catalog.Exposure
	if err := json.Unmarshal([]byte(must("query", "--package", "libssl3", "--ecosystem", "Debian", "--status", "active", "-o", "json")), &exp); err != nil || len(exp) != 2 {
		t.Errorf("query -o json: %d exposures (%v), want the two active versions", len(exp), err)
	}
	contains("query of nothing", must("query", "--package", "log4j"), "no version ships log4j")
	exit(ExitUsage, "query")
	exit(ExitUsage, "query", "--package", "libssl3", "--version-range", "<<1")
	exit(ExitUsage, "query", "--package", "libssl3", "--status", "gone")
	exit(ExitUsage, "ls", "--status", "gone")
	exit(ExitUsage, "show", "web@")
	contains("show unknown", exit(ExitFailure, "show", "nope"), "not found")
}

func TestCatalogSpecs(t *testing.T) {
	data := t.TempDir()
	dir := t.TempDir()
	specYAML := "name: web\nversion: \"1.0\"\nrepositories: [{host: true, suites: [bookworm]}]\npackages: [base-files]\n" +
		"files:\n  - {source: conf, path: /etc/web}\nevidence:\n  vex: [vex.json]\n"
	for name, content := range map[string]string{"ingot.yaml": specYAML, "conf/web.conf": "port=80\n", "vex.json": "{}", "ingot.lock": "lock\n"} {
		p := filepath.Join(dir, name)
		_ = os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cat := func(args ...string) (string, error) {
		out, _, err := run(t, append([]string{"--data-dir", data, "catalog"}, args...)...)
		return out, err
	}
	out, err := cat("add", dir)
	if err != nil || !strings.Contains(out, "registered web") || !strings.Contains(out, "its lock") {
		t.Fatalf("add: %q %v", out, err)
	}
	c, err := store.Store{Root: data}.Catalog(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	rs, err := c.Spec(t.Context(), "web")
	_ = c.Close()
	if err != nil || string(rs.Spec) != specYAML || string(rs.Lock) != "lock\n" {
		t.Fatalf("registered spec: %+v %v", rs, err)
	}
	unpacked := t.TempDir()
	if err := spec.Unarchive(rs.Files, unpacked); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(unpacked, "conf", "web.conf")); err != nil || string(b) != "port=80\n" {
		t.Errorf("the registered files: %q %v", b, err)
	}
	out, err = cat("specs")
	if err != nil || !strings.Contains(out, "web") || !strings.Contains(out, rs.Digest[:12]) {
		t.Errorf("specs: %q %v", out, err)
	}

	// A spec naming a file outside its directory is refused, as build refuses it.
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("s"), 0o600); err != nil {
		t.Fatal(err)
	}
	evil := t.TempDir()
	if err := os.WriteFile(filepath.Join(evil, "ingot.yaml"), []byte(strings.Replace(strings.Replace(specYAML, "name: web", "name: evil", 1),
		"source: conf", "source: "+filepath.Join(outside, "secret"), 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := cat("add", evil); ExitCode(err) != ExitUsage || !strings.Contains(err.Error(), "outside") {
		t.Errorf("add of an escaping spec: %v, want exit 2", err)
	}
	if out, _ := cat("specs", "-o", "json"); strings.Contains(out, "evil") {
		t.Errorf("the refused spec was registered: %s", out)
	}

	if out, err := cat("rm", "web"); err != nil || !strings.Contains(out, "no longer rebuilt") {
		t.Errorf("rm: %q %v", out, err)
	}
	if _, err := cat("rm", "web"); ExitCode(err) != ExitFailure || !strings.Contains(err.Error(), "not found") {
		t.Errorf("rm twice: %v", err)
	}
	if out, _ := cat("specs"); !strings.Contains(out, "no specs registered") {
		t.Errorf("specs after rm: %q", out)
	}
}

// The catalog flag and environment pick the database.
func TestCatalogFlag(t *testing.T) {
	elsewhere := filepath.Join(t.TempDir(), "other.db")
	t.Setenv("INGOT_CATALOG", "sqlite:"+elsewhere)
	data := t.TempDir()
	if _, _, err := run(t, "--data-dir", data, "catalog", "ls"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(elsewhere); err != nil {
		t.Errorf("INGOT_CATALOG was not used: %v", err)
	}
	if _, err := os.Stat(filepath.Join(data, "catalog.db")); err == nil {
		t.Errorf("the data directory's catalog was created although INGOT_CATALOG names another")
	}
	_, _, err := run(t, "--data-dir", data, "--catalog", "mysql://root:pw@db/x", "catalog", "ls")
	if ExitCode(err) != ExitUsage || strings.Contains(err.Error(), "pw@") {
		t.Errorf("--catalog mysql://…: %v, want exit 2 without the DSN", err)
	}
}
