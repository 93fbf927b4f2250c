package cli

import (
	"archive/tar"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/host"
	"github.com/ingot-build/ingot/pkg/store"
	"github.com/ingot-build/ingot/pkg/vuln"
)

// hostTarball writes a small root file system with known weaknesses: root login over SSH, telnet
// installed, a shell history.
func hostTarball(t *testing.T) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "root.tar")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	for _, e := range []struct{ name, data string }{
		{"etc/os-release", "ID=debian\nVERSION_ID=\"12\"\n"},
		{"etc/ssh/sshd_config", "PermitRootLogin yes\n"},
		{"etc/passwd", "root:x:0:0:root:/root:/bin/bash\n"},
		{"var/lib/dpkg/status", "Package: telnet\nStatus: install ok installed\nArchitecture: amd64\nVersion: 0.17+2.4-2\n\nPackage: dpkg\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.21.22\n"},
		{"root/.bash_history", "telnet example\n"},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return name
}

func TestHostAudit(t *testing.T) {
	target := hostTarball(t)
	out, _, err := run(t, "host", "audit", target, "-o", "json")
	if code := ExitCode(err); code != 3 {
		t.Fatalf("exit %d (%v), want 3 for failed rules", code, err)
	}
	var r evidence.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	status := map[string]string{}
	for _, f := range r.Findings {
		status[f.ID] = f.Status
	}
	for id, want := range map[string]string{host.RuleSSHRootLogin: "failed", host.RuleLegacyClients: "failed", host.RuleHistories: "failed", host.RuleUID0: "passed", host.RuleSecrets: "passed"} {
		if status[id] != want {
			t.Errorf("%s: %q, want %s", id, status[id], want)
		}
	}
	if r.Tool != "ingot host audit" || r.Image.Ref != target || !strings.HasPrefix(r.Image.Digest, "sha256:") {
		t.Errorf("report subject %+v tool %s", r.Image, r.Tool)
	}

	t.Run("waived, profile, fail-on none", func(t *testing.T) {
		out, _, err := run(t, "host", "audit", target, "--profile", "cis-l1", "--waive", host.RuleSSHRootLogin+"=bastion image", "--fail-on", "none", "--no-secrets")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, host.RuleSSHRootLogin) || !strings.Contains(out, "waived") || strings.Contains(out, host.RuleHistories) {
			t.Errorf("table:\n%s", out)
		}
	})
	t.Run("sarif and sbom", func(t *testing.T) {
		sbomFile := filepath.Join(t.TempDir(), "host.cdx.json")
		out, _, err := run(t, "host", "audit", target, "-o", "sarif", "--sbom", sbomFile)
		if ExitCode(err) != 3 || !strings.Contains(out, `"ruleId": "`+host.RuleSSHRootLogin+`"`) {
			t.Errorf("exit %d, sarif:\n%.400s", ExitCode(err), out)
		}
		doc, err := os.ReadFile(sbomFile)
		if err != nil || !strings.Contains(string(doc), "pkg:deb/debian/telnet@0.17%2B2.4-2") {
			t.Errorf("sbom (%v):\n%.400s", err, doc)
		}
	})
	t.Run("policy", func(t *testing.T) {
		dir := t.TempDir()
		good := filepath.Join(dir, "policy.yaml")
		if err := os.WriteFile(good, []byte("agents:\n  - name: node-exporter\nforbidden:\n  - name: telnet\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		out, _, err := run(t, "host", "audit", target, "--policy", good, "-o", "json")
		if ExitCode(err) != 3 || !strings.Contains(out, "node-exporter") || !strings.Contains(out, "telnet 0.17+2.4-2") {
			t.Errorf("exit %d:\n%.600s", ExitCode(err), out)
		}
		bad := filepath.Join(dir, "bad.yaml")
		if err := os.WriteFile(bad, []byte("agent:\n  - name: node-exporter\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, _, err := run(t, "host", "audit", target, "--policy", bad); ExitCode(err) != 2 || !strings.Contains(err.Error(), "agent") {
			t.Errorf("a policy with an unknown field: exit %d %v, want 2", ExitCode(err), err)
		}
	})
	t.Run("bad input", func(t *testing.T) {
		for _, args := range [][]string{
			{"host", "audit", filepath.Join(t.TempDir(), "missing")},
			{"host", "audit", target, "--profile", "cis"},
			{"host", "audit", target, "--waive", "INGOT-V999=typo"},
			{"host", "audit", target, "-o", "xml"},
		} {
			if _, _, err := run(t, args...); ExitCode(err) != 2 {
				t.Errorf("%v: exit %d (%v), want 2", args, ExitCode(err), err)
			}
		}
	})
	t.Run("scan", func(t *testing.T) {
		data := t.TempDir()
		if _, _, err := run(t, "--data-dir", data, "host", "audit", target, "--scan"); err == nil || !strings.Contains(err.Error(), "ingot db import") {
			t.Fatalf("--scan without data: %v", err)
		}
		osv := t.TempDir()
		advisory := `{"id": "DEBIAN-CVE-2024-3333", "modified": "2024-05-01T00:00:00Z",
  "affected": [{"package": {"ecosystem": "Debian", "name": "telnet"},
    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "0.17+2.4-3"}]}]}]}`
		if err := os.WriteFile(filepath.Join(osv, "a.json"), []byte(advisory), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := (store.Store{Root: data}).VulnDB().Import(context.Background(), osv, vuln.ImportOptions{Name: "fixture"}); err != nil {
			t.Fatal(err)
		}
		out, _, err := run(t, "--data-dir", data, "host", "audit", target, "--scan", "-o", "json", "--no-secrets")
		if ExitCode(err) != 3 {
			t.Fatalf("exit %d (%v)", ExitCode(err), err)
		}
		var r evidence.Report
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatal(err)
		}
		found := false
		for _, f := range r.Findings {
			if f.Kind == evidence.KindVulnerability && f.Package != nil && f.Package.Name == "telnet" && f.FixedVersion == "0.17+2.4-3" {
				found = true
			}
		}
		if !found {
			t.Errorf("no vulnerability finding for telnet in %.800s", out)
		}
	})
	t.Run("policy schema", func(t *testing.T) {
		out, _, err := run(t, "host", "policy-schema")
		if err != nil || !strings.Contains(out, host.PolicySchemaID) {
			t.Errorf("%v\n%.200s", err, out)
		}
	})
}
