package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ingot-build/ingot/internal/cdxschema"
	"github.com/ingot-build/ingot/internal/regtest"
	"github.com/ingot-build/ingot/internal/testrepo"
	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/lock"
	"github.com/ingot-build/ingot/pkg/sbom"
	"github.com/ingot-build/ingot/pkg/store"
)

// runSbom runs `ingot sbom` with the data directory set, as the root command would.
func runSbom(t *testing.T, data string, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := newSbomCmd(&globalFlags{dataDir: data, transport: regtest.OfflineTransport(nil)})
	cmd.SetArgs(args)
	cmd.SetOut(&stdout)
	cmd.SetErr(&stderr)
	err := cmd.ExecuteContext(context.Background())
	return stdout.String(), stderr.String(), err
}

func TestSbom(t *testing.T) {
	repo := testrepo.New(t, testrepo.Options{Packages: fixturePackages()})
	dir := writeSpec(t, repo, specTemplate)
	data := t.TempDir()
	if _, stderr, err := run(t, "--data-dir", data, "build", dir); err != nil {
		t.Fatalf("build: %v\n%s", err, stderr)
	}
	lockPath := filepath.Join(dir, "ingot.lock")
	l, err := lock.Read(lockPath)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{} // name -> sha256, from the lock
	for _, p := range l.Archs["amd64"].Packages {
		want[p.Name+" "+p.Version] = p.SHA256
	}

	t.Run("table", func(t *testing.T) {
		out, _, err := runSbom(t, data, "fixture:1.0")
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != len(want)+1 || strings.Join(strings.Fields(lines[0]), " ") != "NAME VERSION TYPE LAYER" {
			t.Fatalf("table:\n%s", out)
		}
		for _, ln := range lines[1:] {
			f := strings.Fields(ln)
			if len(f) != 4 || f[2] != "deb" || len(f[3]) != 12 {
				t.Errorf("row %q: want name, version, deb, 12-digit layer", ln)
				continue
			}
			if _, ok := want[f[0]+" "+f[1]]; !ok {
				t.Errorf("row %q is not a locked package", ln)
			}
		}
	})

	t.Run("json with lock", func(t *testing.T) {
		out, _, err := runSbom(t, data, "fixture:1.0", "-o", "json", "--lock", lockPath)
		if err != nil {
			t.Fatal(err)
		}
		var inv evidence.Inventory
		if err := json.Unmarshal([]byte(out), &inv); err != nil {
			t.Fatal(err)
		}
		if len(inv.Packages) != len(want) {
			t.Errorf("%d packages, want %d", len(inv.Packages), len(want))
		}
		for _, p := range inv.Packages {
			if sum, ok := want[p.Name+" "+p.Version]; !ok || p.SHA256 != sum {
				t.Errorf("%s %s: sha256 %q, want the lock's %q", p.Name, p.Version, p.SHA256, sum)
			}
		}
		if len(inv.Excluded) != 1 || inv.Excluded[0].Name != "debconf" {
			t.Errorf("excluded = %+v", inv.Excluded)
		}
		if inv.Image.Ref != "fixture:1.0" || !strings.HasPrefix(inv.Image.Digest, "sha256:") {
			t.Errorf("image = %+v", inv.Image)
		}
	})

	t.Run("spdx-json is valid and reproducible", func(t *testing.T) {
		a, _, err := runSbom(t, data, "fixture:1.0", "-o", "spdx-json", "--lock", lockPath)
		if err != nil {
			t.Fatal(err)
		}
		if err := sbom.ValidateSPDX([]byte(a)); err != nil {
			t.Error(err)
		}
		b, _, err := runSbom(t, data, "fixture:1.0", "-o", "spdx-json", "--lock", lockPath)
		if err != nil || a != b {
			t.Errorf("second run differs (%v)", err)
		}
	})

	t.Run("cyclonedx-json to a file, from the OCI layout", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "bom.json")
		stdout, _, err := runSbom(t, data, "oci:"+store.Store{Root: data}.Layouts().Dir("fixture")+":1.0", "-o", "cyclonedx-json", "--output-file", out)
		if err != nil {
			t.Fatal(err)
		}
		if stdout != "" {
			t.Errorf("stdout = %q with --output-file", stdout)
		}
		doc, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if err := cdxschema.Validate(doc, sbom.Schemas()); err != nil {
			t.Error(err)
		}
		inv, err := sbom.Decode(doc)
		if err != nil || len(inv.Packages) != len(want) {
			t.Errorf("decoded %d packages (%v), want %d", len(inv.Packages), err, len(want))
		}
	})

	t.Run("bad input", func(t *testing.T) {
		for _, args := range [][]string{
			{"fixture:1.0", "-o", "xml"},
			{"fixture:1.0", "--lock", filepath.Join(dir, "missing.lock")},
			{"oci:" + store.Store{Root: data}.Layouts().Dir("fixture") + ":9.9"},
			{},
		} {
			_, _, err := runSbom(t, data, args...)
			if err == nil {
				t.Errorf("sbom %q succeeded", args)
			}
		}
		_, _, err := runSbom(t, data, "fixture:1.0", "-o", "xml")
		if ExitCode(err) != ExitUsage {
			t.Errorf("-o xml: exit code %d, want %d", ExitCode(err), ExitUsage)
		}
	})
}
