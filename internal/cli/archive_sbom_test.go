package cli

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ingot-build/ingot/internal/testrepo"
	"github.com/ingot-build/ingot/pkg/store"
)

// TestSBOMOfBuiltArchive: the docker archive a build writes (--tarball), read in place with its layer
// digests taken from the file names, gives the packages the layout gives, cold and from the caches.
func TestSBOMOfBuiltArchive(t *testing.T) {
	repo := testrepo.New(t, testrepo.Options{Packages: fixturePackages()})
	dir := writeSpec(t, repo, specTemplate+"evidence: {fail-on: none}\n")
	data := t.TempDir()
	archive := filepath.Join(t.TempDir(), "app.tar")
	if _, stderr, err := run(t, "--data-dir", data, "build", "--tarball", archive, dir); err != nil {
		t.Fatalf("build: %v\n%s", err, stderr)
	}
	packages := func(ref string) []string {
		t.Helper()
		stdout, stderr, err := run(t, "--data-dir", data, "sbom", "-o", "json", ref)
		if err != nil {
			t.Fatalf("sbom %s: %v\n%s", ref, err, stderr)
		}
		var inv struct {
			Packages []struct{ Name, Version string }
		}
		if err := json.Unmarshal([]byte(stdout), &inv); err != nil {
			t.Fatalf("sbom %s: %v", ref, err)
		}
		var out []string
		for _, p := range inv.Packages {
			out = append(out, p.Name+"="+p.Version)
		}
		slices.Sort(out)
		return out
	}
	want := packages("fixture")
	if len(want) == 0 {
		t.Fatal("the layout's SBOM lists no packages")
	}
	// The archive holds the layout's image, so the caches the build and the layout's SBOM filled
	// would answer for it: emptied, the first read of the archive is cold, and fills them again.
	st := store.Store{Root: data}
	for _, pass := range []string{"cold", "cached"} {
		if pass == "cold" {
			if err := errors.Join(os.RemoveAll(st.Inventories().Dir), os.RemoveAll(st.LayerAnalyses().Dir)); err != nil {
				t.Fatal(err)
			}
		}
		if got := packages("docker-archive:" + archive); !slices.Equal(got, want) {
			t.Errorf("%s: the archive's SBOM lists %s, the layout's %s", pass, strings.Join(got, " "), strings.Join(want, " "))
		}
		if entries, err := os.ReadDir(st.Inventories().Dir); err != nil || len(entries) == 0 {
			t.Errorf("%s: no inventory cached after reading the archive (%v)", pass, err)
		}
	}
}
