package vuln

import (
	"archive/zip"
	"context"
	"encoding/json"
	"io"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"golang.org/x/mod/semver"

	"github.com/ingot-build/ingot/pkg/evidence"
)

// goData is the real Go vulnerability database as osv.dev publishes it (see shared/data/README.md);
// the repository is checked out next to shared/ in CI.
const goData = "../../../shared/data/vuln/Go/all.zip"

func needGoData(tb testing.TB) {
	tb.Helper()
	if _, err := os.Stat(goData); err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("the real Go vulnerability data is missing in CI: %v", err)
		}
		tb.Skipf("skipping: real Go vulnerability data not found at %s (%v)", goData, err)
	}
}

// goInventory is a Go binary's build info: modules with known advisories at old versions, a module
// whose only advisory at that version is withdrawn among others, and the toolchain as stdlib.
func goInventory() *evidence.Inventory {
	mod := func(name, version string) evidence.Package {
		return evidence.Package{Name: name, Version: version, Type: evidence.TypeGolang, PURL: "pkg:golang/" + name + "@" + version, Locations: []string{"/usr/bin/app"}}
	}
	return &evidence.Inventory{Packages: []evidence.Package{
		mod("example.com/app", "(devel)"),
		mod("golang.org/x/net", "v0.7.0"),
		mod("golang.org/x/text", "v0.3.7"),
		mod("github.com/gin-gonic/gin", "v1.9.0"),
		mod("k8s.io/kubernetes", "v1.20.0"),
		mod("github.com/google/uuid", "v1.6.0"),
		mod("stdlib", "go1.21.0"),
	}}
}

// expectGo reads the zip directly and applies the OSV rules for SEMVER ranges with x/mod/semver, as
// an independent check of the index and the matcher: for each package, the IDs of the non-withdrawn
// records whose ranges hold the version, and the lowest fix above it.
func expectGo(t *testing.T, versions map[string]string) map[string]map[string]string {
	t.Helper()
	zr, err := zip.OpenReader(goData)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close() //nolint:errcheck // read-only
	want := map[string]map[string]string{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		var r struct {
			ID        string `json:"id"`
			Withdrawn string `json:"withdrawn"`
			Affected  []struct {
				Package struct{ Name string }
				Ranges  []struct {
					Type   string
					Events []map[string]string
				}
			}
		}
		if err := json.Unmarshal(data, &r); err != nil {
			t.Fatal(err)
		}
		if r.Withdrawn != "" {
			continue
		}
		for _, a := range r.Affected {
			v, ok := versions[a.Package.Name]
			if !ok {
				continue
			}
			for _, rg := range a.Ranges {
				if rg.Type != "SEMVER" {
					t.Fatalf("%s: range type %s", r.ID, rg.Type)
				}
				in, fixed := false, ""
				// The Go database writes events in ascending order.
				for _, e := range rg.Events {
					if x, ok := e["introduced"]; ok && (x == "0" || semver.Compare(v, "v"+x) >= 0) {
						in = true
					}
					if x, ok := e["fixed"]; ok {
						if semver.Compare(v, "v"+x) >= 0 {
							in = false
						} else if fixed == "" {
							fixed = x
						}
					}
				}
				if !in {
					continue
				}
				if want[a.Package.Name] == nil {
					want[a.Package.Name] = map[string]string{}
				}
				if old, ok := want[a.Package.Name][r.ID]; !ok || (fixed != "" && (old == "" || semver.Compare("v"+fixed, "v"+old) < 0)) {
					want[a.Package.Name][r.ID] = fixed
				}
			}
		}
	}
	return want
}

func TestGoDataImport(t *testing.T) {
	needGoData(t)
	db := &DB{Dir: filepath.Join(t.TempDir(), "vulndb")}
	stats, err := db.Import(context.Background(), goData, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := ImportStats{Source: "Go", Records: 4291, Withdrawn: 17, Ecosystems: map[string]int{"Go": 4291}}
	if !reflect.DeepEqual(stats, want) {
		t.Errorf("stats = %+v, want %+v", stats, want)
	}
	st, err := db.Status()
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Sources) != 1 || st.Sources[0].Records != 4291 || st.Sources[0].Withdrawn != 17 ||
		!st.Sources[0].Modified.IsZero() || len(st.Sources[0].Ecosystems) != 1 || st.Sources[0].Ecosystems[0].Packages < 1000 {
		t.Errorf("status = %+v", st)
	}

	inv := goInventory()
	fs, err := db.Match(context.Background(), inv)
	if err != nil {
		t.Fatal(err)
	}
	versions := map[string]string{}
	for _, p := range inv.Packages {
		v := p.Version
		if p.Name == "stdlib" {
			v = "v1.21.0"
		}
		versions[p.Name] = v
	}
	want2 := expectGo(t, versions)
	got := map[string]map[string]string{}
	for _, f := range fs {
		if got[f.Package.Name] == nil {
			got[f.Package.Name] = map[string]string{}
		}
		if _, dup := got[f.Package.Name][f.ID]; dup {
			t.Errorf("%s reported twice for %s", f.ID, f.Package.Name)
		}
		got[f.Package.Name][f.ID] = f.FixedVersion
		if len(f.Locations) != 1 || f.Locations[0].Path != "/usr/bin/app" || f.Package.PURL == "" {
			t.Errorf("%s: package %+v locations %+v", f.ID, f.Package, f.Locations)
		}
	}
	if !reflect.DeepEqual(got, want2) {
		for name := range mergeKeys(got, want2) {
			if !reflect.DeepEqual(got[name], want2[name]) {
				t.Errorf("%s:\n got %v\nwant %v", name, got[name], want2[name])
			}
		}
	}
	// Anchors, so the check above cannot pass by both sides being empty or the module missing.
	for _, c := range []struct{ pkg, id, fixed string }{
		{"golang.org/x/net", "GO-2023-2102", "0.17.0"}, // HTTP/2 rapid reset
		{"stdlib", "GO-2023-2102", "1.21.3"},
		{"golang.org/x/text", "GO-2022-1059", "0.3.8"},
		{"github.com/gin-gonic/gin", "GO-2023-1737", "1.9.1"},
	} {
		if f, ok := got[c.pkg][c.id]; !ok || f != c.fixed {
			t.Errorf("%s: %s fixed %q, want fixed %q", c.pkg, c.id, f, c.fixed)
		}
	}
	if _, ok := got["k8s.io/kubernetes"]["GO-2022-0617"]; ok {
		t.Error("the withdrawn GO-2022-0617 was reported")
	}
	if len(got["stdlib"]) < 50 || len(got["golang.org/x/net"]) < 10 || len(got["k8s.io/kubernetes"]) < 20 {
		t.Errorf("too few findings: %d stdlib, %d x/net, %d kubernetes", len(got["stdlib"]), len(got["golang.org/x/net"]), len(got["k8s.io/kubernetes"]))
	}
	if _, ok := got["github.com/google/uuid"]; ok {
		t.Errorf("github.com/google/uuid has no advisories, got %v", got["github.com/google/uuid"])
	}
	for _, f := range fs {
		if f.Title == "" {
			t.Errorf("%s has no title", f.ID)
		}
	}

	// The other spellings of the toolchain version read the same.
	for _, v := range []string{"1.21.0", "v1.21.0", "go1.21.0 X:loopvar"} {
		inv := &evidence.Inventory{Packages: []evidence.Package{{Name: "stdlib", Version: v, Type: evidence.TypeGolang}}}
		fs, err := db.Match(context.Background(), inv)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, f := range fs {
			ids = append(ids, f.ID)
		}
		wantIDs := slices.Sorted(maps.Keys(want2["stdlib"]))
		if !reflect.DeepEqual(ids, wantIDs) {
			t.Errorf("stdlib %q: %d findings, want %d", v, len(ids), len(wantIDs))
		}
	}
}

func mergeKeys(a, b map[string]map[string]string) map[string]bool {
	m := map[string]bool{}
	for k := range a {
		m[k] = true
	}
	for k := range b {
		m[k] = true
	}
	return m
}

func BenchmarkMatch(b *testing.B) {
	needGoData(b)
	db := &DB{Dir: filepath.Join(b.TempDir(), "vulndb")}
	if _, err := db.Import(context.Background(), goData, ImportOptions{}); err != nil {
		b.Fatal(err)
	}
	inv := goInventory()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		fs, err := db.Match(ctx, inv)
		if err != nil || len(fs) == 0 {
			b.Fatal(len(fs), err)
		}
	}
}

func BenchmarkImport(b *testing.B) {
	needGoData(b)
	db := &DB{Dir: filepath.Join(b.TempDir(), "vulndb")}
	ctx := context.Background()
	for b.Loop() {
		if _, err := db.Import(ctx, goData, ImportOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
