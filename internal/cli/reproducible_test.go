package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ingot-build/ingot/internal/debtest"
	"github.com/ingot-build/ingot/internal/testrepo"
)

// TestReproducibleIndex builds the same spec and lock twice, in different directories, with different
// data directories, at different times: the index digest must be identical.
func TestReproducibleIndex(t *testing.T) {
	repo := testrepo.New(t, testrepo.Options{Archs: []string{"amd64", "arm64"}, Packages: twoArchPackages()})
	spec := specTemplate + "archs: [amd64, arm64]\nlayers: 3\n"
	first := writeSpec(t, repo, spec)
	if _, stderr, err := run(t, "--data-dir", t.TempDir(), "lock", first); err != nil {
		t.Fatalf("lock: %v\n%s", err, stderr)
	}
	second := writeSpec(t, repo, spec)
	lockData, err := os.ReadFile(filepath.Join(first, "ingot.lock"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(second, "ingot.lock"), lockData, 0o644); err != nil {
		t.Fatal(err)
	}

	d1, stderr, err := run(t, "--data-dir", t.TempDir(), "build", first)
	if err != nil {
		t.Fatalf("first build: %v\n%s", err, stderr)
	}
	time.Sleep(1100 * time.Millisecond) // a wall-clock second later: no timestamp may leak in
	d2, stderr, err := run(t, "--data-dir", t.TempDir(), "build", second)
	if err != nil {
		t.Fatalf("second build: %v\n%s", err, stderr)
	}
	if d1 != d2 {
		t.Fatalf("index digests differ: %s vs %s", d1, d2)
	}

	// SOURCE_DATE_EPOCH changes the timestamps and so the digest, reproducibly.
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	d3, _, err := run(t, "--data-dir", t.TempDir(), "build", first)
	if err != nil {
		t.Fatal(err)
	}
	d4, _, err := run(t, "--data-dir", t.TempDir(), "build", second)
	if err != nil {
		t.Fatal(err)
	}
	if d3 == d1 || d3 != d4 {
		t.Errorf("with SOURCE_DATE_EPOCH: %s and %s (without: %s)", d3, d4, d1)
	}
}

// twoArchPackages is the fixture package set for amd64 and arm64: each amd64 package has an arm64
// twin with its files under the arm64 multiarch directory.
func twoArchPackages() []debtest.Package {
	pkgs := fixturePackages()
	for _, p := range fixturePackages() {
		if p.Arch == "amd64" {
			p.Arch = "arm64"
			for i := range p.Files {
				p.Files[i].Path = strings.ReplaceAll(p.Files[i].Path, "x86_64-linux-gnu", "aarch64-linux-gnu")
			}
			pkgs = append(pkgs, p)
		}
	}
	return pkgs
}

// The newest package date clamps timestamps when SOURCE_DATE_EPOCH is unset: a package built later
// moves the image's creation time, a rebuild does not.
func TestEpochFromPackages(t *testing.T) {
	pkgs := fixturePackages()
	newest := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	pkgs[0].Files = append(pkgs[0].Files, debtest.File{Path: "etc/issue", Body: []byte("x\n"), ModTime: newest})
	repo := testrepo.New(t, testrepo.Options{Packages: pkgs})
	dir := writeSpec(t, repo, specTemplate)
	data := t.TempDir()
	if _, stderr, err := run(t, "--data-dir", data, "build", dir); err != nil {
		t.Fatalf("build: %v\n%s", err, stderr)
	}
	cfg := readConfig(t, data, "fixture", "1.0")
	if !cfg.Created.Equal(newest) {
		t.Errorf("created = %s, want the newest package date %s", cfg.Created.Time, newest)
	}
}
