package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ingot-build/ingot/internal/debtest"
	"github.com/ingot-build/ingot/internal/regtest"
	"github.com/ingot-build/ingot/pkg/build"
	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/harden"
	"github.com/ingot-build/ingot/pkg/publish"
	"github.com/ingot-build/ingot/pkg/store"
)

// lintFixture stores two images built by pkg/build: "good" in the data directory's store, as `ingot
// build` leaves it, and "bad" (runs as root, has /bin/sh, a setuid file and a GitHub token) in a separate
// OCI layout.
// It returns the data directory and the bad image's reference.
func lintFixture(t *testing.T) (dataDir, badRef string) {
	t.Helper()
	hello := debtest.MustBuild(t, debtest.Package{Name: "hello", Version: "1.0-1", Files: []debtest.File{
		{Path: "usr/bin/hello", Mode: 0o755, Body: []byte("\x7fELF hello")},
	}})
	opts := func(accounts build.Accounts, files []build.File) build.Options {
		return build.Options{
			Arch:     "amd64",
			Packages: []build.Package{{Name: "hello", Version: "1.0-1", SHA256: "00", Deb: hello}},
			Accounts: accounts,
			Files:    files,
			Epoch:    time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC),
		}
	}
	ctx := context.Background()
	good, err := build.Image(ctx, opts(build.Accounts{
		Groups: []build.Group{{Name: "nonroot", GID: 65532}},
		Users:  []build.User{{Name: "nonroot", UID: 65532, GID: 65532, Home: "/home/nonroot"}},
		RunAs:  "nonroot",
	}, nil))
	if err != nil {
		t.Fatal(err)
	}
	bad, err := build.Image(ctx, opts(build.Accounts{}, []build.File{
		{Path: "/bin/sh", Mode: 0o755, Data: []byte("\x7fELF sh")},
		{Path: "/usr/bin/su", Mode: 0o755 | fs.ModeSetuid, Data: []byte("\x7fELF su")},
		// Split so that scanning this source tree does not report it.
		{Path: "/app/.env", Mode: 0o644, Data: []byte("GITHUB_TOKEN=" + "ghp_" + "bSvej8IzWzeSnugdfOt7YcqoVcVCHWt1RPun\n")},
	}))
	if err != nil {
		t.Fatal(err)
	}
	dataDir = t.TempDir()
	if _, err := (store.Store{Root: dataDir}).Layouts().Write(ctx, "good", "1.0", publish.Artifact{Image: good}); err != nil {
		t.Fatal(err)
	}
	other := t.TempDir()
	if _, err := (publish.Layouts{Root: other}).Write(ctx, "bad", "1", publish.Artifact{Image: bad}); err != nil {
		t.Fatal(err)
	}
	return dataDir, "oci:" + filepath.Join(other, "bad") + ":1"
}

func runLint(t *testing.T, dataDir string, args ...string) (string, error) {
	t.Helper()
	var out, stderr bytes.Buffer
	cmd := newLintCmd(&globalFlags{dataDir: dataDir, transport: regtest.OfflineTransport(nil)})
	// As under the root command, which prints errors itself.
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&stderr)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

func lintJSON(t *testing.T, out string) map[string]evidence.Finding {
	t.Helper()
	var r evidence.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("output is not a JSON report: %v\n%s", err, out)
	}
	if r.Tool != "ingot lint" || !strings.HasPrefix(r.Image.Digest, "sha256:") || r.Image.Arch != "amd64" {
		t.Errorf("report header = %+v, %q", r.Image, r.Tool)
	}
	m := map[string]evidence.Finding{}
	for _, f := range r.Findings {
		m[f.ID] = f
	}
	return m
}

func TestLint(t *testing.T) {
	dataDir, bad := lintFixture(t)

	t.Run("ingot image passes", func(t *testing.T) {
		out, err := runLint(t, dataDir, "good:1.0")
		if err != nil {
			t.Fatalf("lint good:1.0: %v\n%s", err, out)
		}
		for _, r := range harden.Rules() {
			if !strings.Contains(out, r.ID) {
				t.Errorf("table does not list %s:\n%s", r.ID, out)
			}
		}
		if strings.Contains(out, "failed") || strings.Contains(out, "skipped  the secrets") || !strings.Contains(out, "good:1.0: no findings") {
			t.Errorf("table:\n%s", out)
		}
	})

	t.Run("bad image fails with exit code 3", func(t *testing.T) {
		out, err := runLint(t, dataDir, bad, "-o", "json")
		var fe *FindingsError
		if !errors.As(err, &fe) || ExitCode(err) != ExitFindings || fe.Count != 4 || fe.Threshold != evidence.SeverityLow {
			t.Fatalf("err = %v (exit %d), want 4 findings at or above low", err, ExitCode(err))
		}
		m := lintJSON(t, out)
		for id, path := range map[string]string{
			harden.RuleRootUser: "config:User", harden.RuleShell: "/bin/sh", harden.RuleSetuid: "/usr/bin/su", harden.RuleSecrets: "/app/.env",
		} {
			if f := m[id]; f.Status != evidence.StatusFailed || len(f.Locations) == 0 || f.Locations[0].Path != path {
				t.Errorf("%s = %s %+v, want failed at %s", id, f.Status, f.Locations, path)
			}
		}
	})

	t.Run("fail-on sets the threshold", func(t *testing.T) {
		if _, err := runLint(t, dataDir, bad, "--fail-on", "none"); err != nil {
			t.Errorf("--fail-on none: %v", err)
		}
		_, err := runLint(t, dataDir, bad, "--fail-on", "high")
		var fe *FindingsError
		if !errors.As(err, &fe) || fe.Count != 3 {
			t.Errorf("--fail-on high: %v, want the high and critical rules (root, setuid, secrets)", err)
		}
		_, err = runLint(t, dataDir, bad, "--fail-on", "critical", "--waive", harden.RuleSecrets+"=test token, revoked")
		if err != nil {
			t.Errorf("--fail-on critical with the secret waived: %v", err)
		}
	})

	t.Run("waivers", func(t *testing.T) {
		out, err := runLint(t, dataDir, bad, "-o", "json",
			"--waive", harden.RuleRootUser+"=entrypoint drops privileges",
			"--waive", harden.RuleShell+"=debug image",
			"--waive", harden.RuleSetuid+"=su is the point of this image",
			"--waive", harden.RuleSecrets+"=test token, revoked")
		if err != nil {
			t.Fatalf("all failures waived, still: %v", err)
		}
		if f := lintJSON(t, out)[harden.RuleShell]; f.Status != evidence.StatusWaived || f.Reason != "debug image" {
			t.Errorf("waived shell rule = %s %q", f.Status, f.Reason)
		}
	})

	t.Run("cis profile in SARIF", func(t *testing.T) {
		out, err := runLint(t, dataDir, bad, "--profile", "cis", "-o", "sarif", "--fail-on", "none")
		if err != nil {
			t.Fatal(err)
		}
		var log struct {
			Runs []struct {
				Results []struct {
					RuleID string `json:"ruleId"`
				} `json:"results"`
			} `json:"runs"`
		}
		if err := json.Unmarshal([]byte(out), &log); err != nil || len(log.Runs) != 1 {
			t.Fatalf("not a SARIF log: %v\n%s", err, out)
		}
		cis := 0
		for _, r := range harden.Rules() {
			if r.CIS != "" {
				cis++
			}
		}
		if got := len(log.Runs[0].Results); got != cis {
			t.Errorf("%d results, want one per CIS rule (%d)", got, cis)
		}
	})

	t.Run("usage errors", func(t *testing.T) {
		for _, args := range [][]string{
			{bad, "--waive", "INGOT-H999=typo"},
			{bad, "--waive", harden.RuleShell},
			{bad, "--waive", harden.RuleShell + "="},
			{bad, "--profile", "strict"},
			{bad, "-o", "xml"},
			{bad, "--fail-on", "severe"},
			{},
		} {
			out, err := runLint(t, dataDir, args...)
			if ExitCode(err) != ExitUsage {
				t.Errorf("lint %q: err = %v (exit %d), want a usage error", args, err, ExitCode(err))
			}
			if strings.Contains(out, "INGOT-H001") && len(args) > 0 {
				t.Errorf("lint %q linted despite the usage error:\n%s", args, out)
			}
		}
	})

	t.Run("missing image", func(t *testing.T) {
		// A layout that is not there is bad input, like any missing file given as input.
		_, err := runLint(t, dataDir, "oci:"+filepath.Join(t.TempDir(), "nothing"))
		if err == nil || ExitCode(err) != ExitUsage || !strings.Contains(err.Error(), "no such file") {
			t.Errorf("err = %v (exit %d), want no such file (exit 2)", err, ExitCode(err))
		}
	})
}
