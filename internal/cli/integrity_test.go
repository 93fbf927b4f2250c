package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ingot-build/ingot/internal/regtest"
	"github.com/ingot-build/ingot/internal/testrepo"
	"github.com/ingot-build/ingot/pkg/imageref"
	"github.com/ingot-build/ingot/pkg/publish"
	"github.com/ingot-build/ingot/pkg/store"
	"github.com/ingot-build/ingot/pkg/vuln"
)

// builtFixture builds the fixture spec into a new data directory and returns the data directory and
// the spec's directory. With vulns, vulnerability data is imported afterwards (the fixture has a
// critical vulnerability, which would fail the build), so scan has data.
func builtFixture(t *testing.T, vulns bool) (data, dir string) {
	t.Helper()
	repo := testrepo.New(t, testrepo.Options{Packages: fixturePackages()})
	dir = writeSpec(t, repo, specTemplate)
	data = t.TempDir()
	if _, stderr, err := run(t, "--data-dir", data, "build", dir); err != nil {
		t.Fatalf("build: %v\n%s", err, stderr)
	}
	if vulns {
		osv := t.TempDir()
		if err := os.WriteFile(filepath.Join(osv, "a.json"), []byte(debianAdvisory), 0o644); err != nil {
			t.Fatal(err)
		}
		db := store.Store{Root: data}.VulnDB()
		if _, err := db.Import(context.Background(), osv, vuln.ImportOptions{Name: "fixture"}); err != nil {
			t.Fatal(err)
		}
	}
	return data, dir
}

// copyTree copies a data directory, so each case damages its own.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "data")
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	return dst
}

// storedBlobs names the fixture image's blobs: manifest, config, layers.
type storedBlobs struct {
	manifest, config v1.Hash
	layers           []v1.Hash
}

func fixtureBlobs(t *testing.T, data string) storedBlobs {
	t.Helper()
	a, err := store.Store{Root: data}.Layouts().Read("fixture", "1.0")
	if err != nil {
		t.Fatal(err)
	}
	var b storedBlobs
	b.manifest, _ = a.Image.Digest()
	b.config, _ = a.Image.ConfigName()
	ls, err := a.Image.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		d, _ := l.Digest()
		b.layers = append(b.layers, d)
	}
	return b
}

func blobOf(data string, h v1.Hash) string {
	return filepath.Join(store.Store{Root: data}.Layouts().Dir("fixture"), "blobs", h.Algorithm, h.Hex)
}

func flipMiddle(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x01
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// blobDamages are the ways a stored image is damaged, each returning the blob it damaged.
var blobDamages = []struct {
	name string
	do   func(t *testing.T, data string, b storedBlobs) v1.Hash
}{
	{"swapped layer", func(t *testing.T, data string, b storedBlobs) v1.Hash {
		// Another image's layer: a valid gzip tar, just not the one the digest names.
		l, err := random.Layer(2048, types.OCILayer)
		if err != nil {
			t.Fatal(err)
		}
		rc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		other, err := io.ReadAll(rc)
		if err != nil {
			t.Fatal(err)
		}
		target := b.layers[len(b.layers)-1]
		if err := os.WriteFile(blobOf(data, target), other, 0o644); err != nil {
			t.Fatal(err)
		}
		return target
	}},
	{"layer bit flip", func(t *testing.T, data string, b storedBlobs) v1.Hash {
		target := b.layers[len(b.layers)-1]
		flipMiddle(t, blobOf(data, target))
		return target
	}},
	{"config bit flip", func(t *testing.T, data string, b storedBlobs) v1.Hash {
		flipMiddle(t, blobOf(data, b.config))
		return b.config
	}},
	{"manifest bit flip", func(t *testing.T, data string, b storedBlobs) v1.Hash {
		flipMiddle(t, blobOf(data, b.manifest))
		return b.manifest
	}},
}

// TestEvidenceVerbsRefuseDamagedBlobs: a blob of a stored image that no longer hashes to its name
// fails every evidence verb with publish.ErrIntegrity (exit 1) naming the blob, and nothing is
// printed, for a store name and an oci: layout alike. The build cached the image's inventory, so
// sbom and scan also show that the cache does not hide the damage.
func TestEvidenceVerbsRefuseDamagedBlobs(t *testing.T) {
	master, _ := builtFixture(t, true)
	blobs := fixtureBlobs(t, master)
	fileTests := filepath.Join(t.TempDir(), "tests.yaml")
	if err := os.WriteFile(fileTests, []byte("fileExistenceTests:\n  - {name: app, path: /usr/bin/app, shouldExist: true}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	commandTests := filepath.Join(t.TempDir(), "commands.yaml")
	if err := os.WriteFile(commandTests, []byte("commandTests:\n  - {name: app, command: /usr/bin/app, exitCode: 0}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	verbs := []struct {
		name string
		args func(ref string) []string
		runc bool
	}{
		{"sbom", func(ref string) []string { return []string{"sbom", ref, "-o", "json"} }, false},
		{"scan", func(ref string) []string { return []string{"scan", ref, "-o", "json"} }, false},
		{"secrets", func(ref string) []string { return []string{"secrets", ref, "-o", "json"} }, false},
		{"lint", func(ref string) []string { return []string{"lint", ref, "-o", "json", "--fail-on", "none"} }, false},
		{"test", func(ref string) []string { return []string{"test", ref, "--tests", fileTests, "-o", "json"} }, false},
		{"test under runc", func(ref string) []string { return []string{"test", ref, "--tests", commandTests, "-o", "json"} }, true},
	}
	runcArgs := func(t *testing.T) []string {
		runc := regtest.Peer(t, "runc")
		regtest.Root(t, "runc")
		return []string{"--runc", runc}
	}
	refs := func(data string) []string {
		return []string{"fixture:1.0", "oci:" + store.Store{Root: data}.Layouts().Dir("fixture") + ":1.0"}
	}
	// Every verb reads the intact image.
	for _, v := range verbs {
		t.Run("intact/"+v.name, func(t *testing.T) {
			for _, ref := range refs(master) {
				args := v.args(ref)
				if v.runc {
					args = append(args, runcArgs(t)...)
				}
				if _, stderr, err := run(t, append([]string{"--data-dir", master}, args...)...); err != nil && ExitCode(err) != ExitFindings {
					t.Fatalf("%s on the intact image: %v\n%s", args, err, stderr)
				}
			}
		})
	}
	for _, dmg := range blobDamages {
		for _, v := range verbs {
			t.Run(dmg.name+"/"+v.name, func(t *testing.T) {
				var extra []string
				if v.runc {
					extra = runcArgs(t)
				}
				data := copyTree(t, master)
				h := dmg.do(t, data, blobs)
				for _, ref := range refs(data) {
					args := append(append([]string{"--data-dir", data}, v.args(ref)...), extra...)
					stdout, _, err := run(t, args...)
					if !errors.Is(err, publish.ErrIntegrity) || ExitCode(err) != ExitFailure {
						t.Fatalf("%s: %v (exit %d), want publish.ErrIntegrity and exit 1", strings.Join(args[2:], " "), err, ExitCode(err))
					}
					if !strings.Contains(err.Error(), h.String()) || !strings.Contains(err.Error(), (store.Store{Root: data}).Layouts().Dir("fixture")) {
						t.Errorf("%s: the error does not name the blob %s and the layout: %v", ref, h, err)
					}
					if stdout != "" {
						t.Errorf("%s printed a report from a damaged image:\n%s", ref, stdout)
					}
				}
			})
		}
	}
}

// TestBuildRepairsDamagedBlob: building the same spec again after a blob was damaged rewrites it:
// the same digest is printed, the blob hashes to its name again, and a note says what was repaired.
func TestBuildRepairsDamagedBlob(t *testing.T) {
	master, dir := builtFixture(t, false)
	blobs := fixtureBlobs(t, master)
	for _, dmg := range blobDamages {
		t.Run(dmg.name, func(t *testing.T) {
			data := copyTree(t, master)
			h := dmg.do(t, data, blobs)
			stdout, stderr, err := run(t, "--data-dir", data, "build", dir)
			if err != nil {
				t.Fatalf("build: %v\n%s", err, stderr)
			}
			if got := strings.TrimSpace(stdout); got != blobs.manifest.String() {
				t.Errorf("build printed %q, want the same digest %s", got, blobs.manifest)
			}
			if !strings.Contains(stderr, "note: repaired 1 damaged blob") || !strings.Contains(stderr, h.String()) {
				t.Errorf("no note naming the repaired blob %s:\n%s", h, stderr)
			}
			b, err := os.ReadFile(blobOf(data, h))
			if err != nil {
				t.Fatal(err)
			}
			if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != h.Hex {
				t.Errorf("blob %s still does not hash to its name", h)
			}
			if _, _, err := run(t, "--data-dir", data, "sbom", "fixture:1.0"); err != nil {
				t.Errorf("sbom after the repair: %v", err)
			}
		})
	}
}

// TestMaxImageSize: --max-image-size bounds what every evidence verb (and the build's evidence gate)
// may inflate of one image: over it, the verb refuses with exit 2 and names the limit.
func TestMaxImageSize(t *testing.T) {
	data, dir := builtFixture(t, false)
	tests := filepath.Join(t.TempDir(), "tests.yaml")
	if err := os.WriteFile(tests, []byte("fileExistenceTests:\n  - {name: app, path: /usr/bin/app, shouldExist: true}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"sbom", "fixture:1.0"},
		{"secrets", "fixture:1.0"},
		{"lint", "fixture:1.0", "--fail-on", "none"},
		{"test", "fixture:1.0", "--tests", tests},
	} {
		// The inventory cache would answer sbom without reading a layer: a fresh data directory.
		fresh := copyTree(t, data)
		if err := os.RemoveAll(store.Store{Root: fresh}.Inventories().Dir); err != nil {
			t.Fatal(err)
		}
		_, _, err := run(t, append([]string{"--data-dir", fresh, "--max-image-size", "1KiB"}, args...)...)
		if !errors.Is(err, imageref.ErrTooLarge) || ExitCode(err) != ExitUsage || !strings.Contains(err.Error(), "1024") {
			t.Errorf("%v with --max-image-size 1KiB: %v (exit %d), want imageref.ErrTooLarge naming 1024, exit 2", args, err, ExitCode(err))
		}
		if _, stderr, err := run(t, append([]string{"--data-dir", fresh}, args...)...); err != nil && ExitCode(err) != ExitFindings {
			t.Fatalf("%v within the default limit: %v\n%s", args, err, stderr)
		}
	}
	// The build's evidence gate reads the image under the same limit; a changed spec builds afresh.
	fresh := t.TempDir()
	_, _, err := run(t, "--data-dir", fresh, "--max-image-size", "1KiB", "build", dir)
	if !errors.Is(err, imageref.ErrTooLarge) || ExitCode(err) != ExitUsage {
		t.Errorf("build with --max-image-size 1KiB: %v (exit %d), want imageref.ErrTooLarge, exit 2", err, ExitCode(err))
	}
}
