package cli

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/ingot-build/ingot/internal/regtest"
	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/publish"
	"github.com/ingot-build/ingot/pkg/secrets"
	"github.com/ingot-build/ingot/pkg/store"
)

// Fake secrets, random in the right formats; none of them was ever issued.
const (
	secretsFakeGitHub = "ghp_Q7vLm2XkR9tB4nWc8ZpJ3sYd6HfA1gEu5KoT"
	secretsFakeStripe = "sk_live_Zt4Qm8Rx2Lk7Wv9Bn3Cp6Jd5Hs1Fy0Ga"
	secretsFakePass   = "Vt9#qLm2Rx7!kWp4"
)

// secretsFixture stores an image with a GitHub token in a file that a later layer deletes, a Stripe
// key in ENV and a password in the build history, and returns the data directory.
func secretsFixture(t *testing.T) string {
	t.Helper()
	tarLayer := func(files map[string]string) v1.Layer {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for name, body := range files {
			if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Typeflag: tar.TypeReg, Size: int64(len(body))}); err != nil {
				t.Fatal(err)
			}
			if _, err := io.WriteString(tw, body); err != nil {
				t.Fatal(err)
			}
		}
		if err := tw.Close(); err != nil {
			t.Fatal(err)
		}
		l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil })
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	img, err := mutate.Append(empty.Image,
		mutate.Addendum{Layer: tarLayer(map[string]string{"app/.git-credentials": "https://ci:" + secretsFakeGitHub + "@github.com\n"})},
		mutate.Addendum{Layer: tarLayer(map[string]string{"app/.wh..git-credentials": ""}), History: v1.History{CreatedBy: "RUN |1 DB_PASSWORD=" + secretsFakePass + " /bin/sh -c ./migrate"}},
	)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", "amd64"
	cfg.Config.Env = []string{"PATH=/usr/bin", "STRIPE_KEY=" + secretsFakeStripe}
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := (store.Store{Root: dir}).Layouts().Write(context.Background(), "leaky", "1", publish.Artifact{Image: img}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func runSecrets(t *testing.T, dataDir string, args ...string) (string, error) {
	t.Helper()
	cmd := newSecretsCmd(&globalFlags{dataDir: dataDir, transport: regtest.OfflineTransport(nil)})
	cmd.SilenceUsage, cmd.SilenceErrors = true, true // as under the root command
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	cmd.SetContext(context.Background())
	err := cmd.Execute()
	return out.String(), err
}

func TestSecrets(t *testing.T) {
	dir := secretsFixture(t)
	type want struct {
		id, path, status string
		sev              evidence.Severity
	}
	all := []want{
		{"stripe-secret-key", "ENV:STRIPE_KEY", evidence.StatusAffected, evidence.SeverityCritical},
		{"github-token", "/app/.git-credentials", evidence.StatusAffected, evidence.SeverityHigh},
		{"generic-secret", "history[1]", evidence.StatusAffected, evidence.SeverityMedium},
	}
	tests := []struct {
		name     string
		args     []string
		exit     int
		findings []want
	}{
		{"report without failing", []string{"leaky:1", "-o", "json"}, ExitOK, all},
		{"fail on high", []string{"leaky:1", "-o", "json", "--fail-on", "high"}, ExitFindings, all},
		{"fail on critical, below it", []string{"leaky:1", "-o", "json", "--fail-on", "critical", "--allow", "stripe-secret-key:=test-mode account"}, ExitOK, []want{
			{"github-token", "/app/.git-credentials", evidence.StatusAffected, evidence.SeverityHigh},
			{"generic-secret", "history[1]", evidence.StatusAffected, evidence.SeverityMedium},
			{"stripe-secret-key", "ENV:STRIPE_KEY", evidence.StatusWaived, evidence.SeverityCritical},
		}},
		{"allow by path and by rule", []string{"leaky:1", "-o", "json", "--fail-on", "low", "--allow", ":/app/**=revoked 2026-11-01", "--allow", "*:history[[]*]=rotated", "--allow", "stripe-secret-key:ENV:*=restricted key"}, ExitOK, []want{
			{"stripe-secret-key", "ENV:STRIPE_KEY", evidence.StatusWaived, evidence.SeverityCritical},
			{"github-token", "/app/.git-credentials", evidence.StatusWaived, evidence.SeverityHigh},
			{"generic-secret", "history[1]", evidence.StatusWaived, evidence.SeverityMedium},
		}},
		{"oci layout reference", []string{"oci:" + store.Store{Root: dir}.Layouts().Dir("leaky") + ":1", "-o", "json", "--fail-on", "medium"}, ExitFindings, all},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runSecrets(t, dir, tt.args...)
			if code := ExitCode(err); code != tt.exit {
				t.Fatalf("exit %d (%v), want %d", code, err, tt.exit)
			}
			var r evidence.Report
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				t.Fatalf("output is not a JSON report: %v\n%s", err, out)
			}
			if r.Tool != "ingot secrets" || r.Image.Digest == "" || r.Image.Arch != "amd64" {
				t.Errorf("report header: %+v %q", r.Image, r.Tool)
			}
			if len(r.Findings) != len(tt.findings) {
				t.Fatalf("%d findings, want %d:\n%s", len(r.Findings), len(tt.findings), out)
			}
			for i, w := range tt.findings {
				f := r.Findings[i]
				if f.ID != w.id || f.Locations[0].Path != w.path || f.Status != w.status || f.Severity != w.sev {
					t.Errorf("finding %d = %s %s %s %s, want %+v", i, f.ID, f.Locations[0].Path, f.Status, f.Severity, w)
				}
				if f.Status == evidence.StatusWaived && f.Reason == "" {
					t.Errorf("finding %d is waived without its reason", i)
				}
			}
		})
	}
}

// The report names where each secret is and never the secret itself, in every format.
func TestSecretsRedacted(t *testing.T) {
	dir := secretsFixture(t)
	for _, format := range []string{"table", "json", "sarif"} {
		out, err := runSecrets(t, dir, "leaky:1", "-o", format)
		if err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		for _, s := range []string{secretsFakeGitHub, secretsFakeStripe, secretsFakePass} {
			if strings.Contains(out, s) {
				t.Errorf("%s output holds the secret %s…", format, s[:4])
			}
		}
		for _, s := range []string{"/app/.git-credentials", "ENV:STRIPE_KEY", "github-token"} {
			if !strings.Contains(strings.TrimPrefix(out, "/"), strings.TrimPrefix(s, "/")) {
				t.Errorf("%s output does not name %s:\n%s", format, s, out)
			}
		}
	}
	out, _ := runSecrets(t, dir, "leaky:1", "-o", "json")
	for _, s := range []string{`"match": "ghp_****"`, `"match": "sk_l****"`, `"removed": "deleted by layer 1"`} {
		if !strings.Contains(out, s) {
			t.Errorf("JSON output lacks %s", s)
		}
	}
}

func TestSecretsUsage(t *testing.T) {
	dir := secretsFixture(t)
	for _, args := range [][]string{
		{},
		{"leaky:1", "extra"},
		{"leaky:1", "-o", "xml"},
		{"leaky:1", "--fail-on", "severe"},
		{"leaky:1", "--allow", "github-token:/app/**"},
		{"leaky:1", "--allow", "github-token:/app/**="},
		{"leaky:1", "--allow", "no-such-rule:/app/**=typo"},
		{"leaky:1", "--allow", ":=everything"},
		{"leaky:1", "--allow", "jwt:app/[=bad glob"},
		{"leaky:1", "--max-file-size", "0"},
	} {
		out, err := runSecrets(t, dir, args...)
		if code := ExitCode(err); code != ExitUsage {
			t.Errorf("%q: exit %d (%v), want %d", args, code, err, ExitUsage)
		}
		if out != "" {
			t.Errorf("%q: printed a report on a usage error:\n%s", args, out)
		}
	}
	// Not a path nor in the store: a registry name, which the offline transport refuses. A registry
	// that cannot be reached is a failure (exit 1), not bad input.
	if _, err := runSecrets(t, dir, "nosuch:1"); ExitCode(err) != ExitFailure {
		t.Errorf("missing image: %v", err)
	}
}

// TestSecretsHelpListsRules: the rule table, added only when the help is shown (so that building the
// command tree compiles no rule), lists every rule, once, however the help is asked for.
func TestSecretsHelpListsRules(t *testing.T) {
	for _, args := range [][]string{{"secrets", "--help"}, {"help", "secrets"}} {
		out, _, err := run(t, args...)
		if err != nil {
			t.Fatalf("%q: %v", args, err)
		}
		for _, r := range secrets.DefaultRules() {
			if n := strings.Count(out, "  "+r.ID+" "); n != 1 {
				t.Errorf("%q: rule %s listed %d times", args, r.ID, n)
			}
		}
	}
}
