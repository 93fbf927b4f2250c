package cli

import (
	"archive/zip"
	"context"
	"debug/buildinfo"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
	modzip "golang.org/x/mod/zip"

	"github.com/ingot-build/ingot/internal/regtest"
	"github.com/ingot-build/ingot/pkg/build"
	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/publish"
	"github.com/ingot-build/ingot/pkg/store"
)

// goVulnData is the real Go vulnerability database shipped beside the repository (shared/data).
const goVulnData = "../../../shared/data/vuln/Go/all.zip"

// TestScanGoBinaryRealData builds a Go program that links golang.org/x/text v0.3.7, puts it in an
// image, and checks that ingot scan, with the real Go vulnerability database, reports exactly the
// advisories the database lists for that module version and for the binary's standard library.
// The module comes from a private file:// module proxy holding a stand-in at that version, since
// scanners match by module path and version and tests have no network.
func TestScanGoBinaryRealData(t *testing.T) {
	if _, err := os.Stat(goVulnData); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("the shared Go vulnerability data is missing: %v", err)
		}
		t.Skipf("no shared Go vulnerability data: %v", err)
	}
	goBin := regtest.Peer(t, "go")
	work := t.TempDir()
	bin := buildVulnApp(t, goBin, work)

	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	stdlib := "v" + strings.TrimPrefix(bi.GoVersion, "go")
	want := expectedGoAdvisories(t, map[string]string{"golang.org/x/text": "v0.3.7", "stdlib": stdlib})
	if len(want) == 0 {
		t.Fatal("the data lists no advisory for golang.org/x/text v0.3.7: the test would prove nothing")
	}

	data := t.TempDir()
	binData, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	img, err := build.Image(context.Background(), build.Options{
		Arch:  "amd64",
		Files: []build.File{{Path: "/usr/local/bin/vulnapp", Mode: 0o755, Data: binData}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (store.Store{Root: data}).Layouts().Write(context.Background(), "vulnapp", "1", publish.Artifact{Image: img}); err != nil {
		t.Fatal(err)
	}
	if _, stderr, err := run(t, "--data-dir", data, "db", "import", goVulnData); err != nil {
		t.Fatalf("db import: %v\n%s", err, stderr)
	}
	stdout, stderr, err := run(t, "--data-dir", data, "scan", "vulnapp:1", "-o", "json")
	if err != nil {
		t.Fatalf("scan: %v\n%s", err, stderr)
	}
	var r evidence.Report
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range r.Findings {
		for _, id := range append([]string{f.ID}, f.Aliases...) {
			if strings.HasPrefix(id, "GO-") {
				got = append(got, f.Package.Name+" "+id)
			}
		}
	}
	sort.Strings(got)
	got = slices.Compact(got)
	t.Logf("%d advisories apply: %v", len(want), want)
	if !slices.Equal(got, want) {
		t.Errorf("scan reported\n  %v\nthe database lists\n  %v", got, want)
	}
}

// buildVulnApp compiles testdata/vulnapp against a file:// module proxy that serves the stand-in
// golang.org/x/text v0.3.7, with a private module cache so the stand-in never reaches the real one.
func buildVulnApp(t *testing.T, goBin, work string) string {
	t.Helper()
	proxy := filepath.Join(work, "proxy")
	vdir := filepath.Join(proxy, "golang.org", "x", "text", "@v")
	if err := os.MkdirAll(vdir, 0o755); err != nil {
		t.Fatal(err)
	}
	mod, err := os.ReadFile("testdata/stubmods/text/go.mod")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"list":        []byte("v0.3.7\n"),
		"v0.3.7.info": []byte(`{"Version":"v0.3.7","Time":"2021-06-14T00:00:00Z"}`),
		"v0.3.7.mod":  mod,
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(vdir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	zf, err := os.Create(filepath.Join(vdir, "v0.3.7.zip"))
	if err != nil {
		t.Fatal(err)
	}
	if err := modzip.CreateFromDir(zf, module.Version{Path: "golang.org/x/text", Version: "v0.3.7"}, "testdata/stubmods/text"); err != nil {
		t.Fatal(err)
	}
	if err := zf.Close(); err != nil {
		t.Fatal(err)
	}
	app := filepath.Join(work, "app")
	if err := os.MkdirAll(app, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"go.mod", "main.go"} {
		b, err := os.ReadFile(filepath.Join("testdata", "vulnapp", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(app, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(work, "vulnapp")
	cmd := exec.Command(goBin, "build", "-trimpath", "-modcacherw", "-mod=mod", "-o", bin, ".")
	cmd.Dir = app
	cmd.Env = append(os.Environ(), "GOPROXY=file://"+proxy, "GOSUMDB=off", "GOFLAGS=", "GOWORK=off",
		"GOTOOLCHAIN=local", "CGO_ENABLED=0", "GOMODCACHE="+filepath.Join(work, "modcache"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building vulnapp: %v\n%s", err, out)
	}
	return bin
}

// expectedGoAdvisories reads the OSV zip directly and returns "module ID" for every record that is
// not withdrawn and whose SEMVER ranges or version lists include the given module versions.
func expectedGoAdvisories(t *testing.T, versions map[string]string) []string {
	t.Helper()
	zr, err := zip.OpenReader(goVulnData)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = zr.Close() }()
	var out []string
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		var rec struct {
			ID        string `json:"id"`
			Withdrawn string `json:"withdrawn"`
			Affected  []struct {
				Package struct{ Ecosystem, Name string } `json:"package"`
				Ranges  []struct {
					Type   string              `json:"type"`
					Events []map[string]string `json:"events"`
				} `json:"ranges"`
				Versions []string `json:"versions"`
			} `json:"affected"`
		}
		if err := json.Unmarshal(b, &rec); err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		if rec.Withdrawn != "" {
			continue
		}
		for _, a := range rec.Affected {
			v, ok := versions[a.Package.Name]
			if !ok || a.Package.Ecosystem != "Go" {
				continue
			}
			if affects(a.Ranges, a.Versions, v) {
				out = append(out, a.Package.Name+" "+rec.ID)
			}
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// affects applies the OSV SEMVER range rules independently of the code under test.
func affects(ranges []struct {
	Type   string              `json:"type"`
	Events []map[string]string `json:"events"`
}, versions []string, v string) bool {
	for _, lv := range versions {
		if semver.Compare("v"+strings.TrimPrefix(lv, "v"), v) == 0 {
			return true
		}
	}
	for _, r := range ranges {
		if r.Type != "SEMVER" {
			continue
		}
		in := false
		for _, e := range r.Events {
			switch {
			case e["introduced"] != "":
				if e["introduced"] == "0" || semver.Compare(v, "v"+e["introduced"]) >= 0 {
					in = true
				}
			case e["fixed"] != "":
				if semver.Compare(v, "v"+e["fixed"]) >= 0 {
					in = false
				}
			case e["last_affected"] != "":
				if semver.Compare(v, "v"+e["last_affected"]) > 0 {
					in = false
				}
			}
		}
		if in {
			return true
		}
	}
	return false
}
