package vuln

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/ingot-build/ingot/pkg/evidence"
)

// TestSeverityFromAliases: Go advisories carry no severity; the records they alias, that alias them or
// that share an alias with them do, in the same source (osv.dev's Go export holds the GHSAs) or
// another (a CVE record). Each finding takes the worst of those ratings and says where it came from;
// with none, it stays unknown.
func TestSeverityFromAliases(t *testing.T) {
	const (
		high = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"
		crit = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
		med  = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N"
	)
	mod := func(name, version string) evidence.Package {
		return evidence.Package{Name: name, Version: version, Type: evidence.TypeGolang, PURL: "pkg:golang/" + name + "@" + version}
	}
	inv := &evidence.Inventory{Packages: []evidence.Package{
		mod("stdlib", "go1.19.5"),
		mod("golang.org/x/text", "v0.3.7"),
		mod("example.com/rev", "v1.1.0"),
		mod("example.com/named", "v1.0.0"),
		mod("example.com/unrated", "v1.0.0"),
		mod("example.com/nvd", "v1.0.0"),
		mod("example.com/withdrawn", "v1.0.0"),
	}}
	type rating struct {
		ID       string
		Severity evidence.Severity
		Source   string
	}
	goOnly := map[string]rating{
		// The GHSA matches too, so the two records are one finding, rated by its own records.
		"golang.org/x/text":     {"GHSA-69ch-w2m2-3vjp", evidence.SeverityHigh, ""},
		"stdlib":                {"GO-2023-1571", evidence.SeverityHigh, "GHSA-vvpx-j8f3-3w6h (" + high + ")"},
		"example.com/rev":       {"GO-2099-0001", evidence.SeverityCritical, "GHSA-2222-3333-4444 (" + crit + ")"},
		"example.com/named":     {"GO-2099-0002", evidence.SeverityMedium, "GHSA-4444-5555-6666 (" + med + ")"},
		"example.com/unrated":   {"GO-2099-0003", evidence.SeverityUnknown, ""},
		"example.com/nvd":       {"GO-2099-0004", evidence.SeverityUnknown, ""},
		"example.com/withdrawn": {"GO-2099-0005", evidence.SeverityUnknown, ""},
	}
	withNVD := map[string]rating{}
	for k, v := range goOnly {
		withNVD[k] = v
	}
	withNVD["example.com/nvd"] = rating{"GO-2099-0004", evidence.SeverityCritical, "CVE-2099-0004 (" + crit + ")"}

	db := &DB{Dir: filepath.Join(t.TempDir(), "vulndb")}
	ctx := context.Background()
	for _, step := range []struct {
		src  string
		want map[string]rating
	}{
		{"testdata/goghsa/Go", goOnly},
		{"testdata/goghsa/nvd", withNVD},
	} {
		if _, err := db.Import(ctx, step.src, ImportOptions{}); err != nil {
			t.Fatal(err)
		}
		fs, err := db.Match(ctx, inv)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]rating{}
		for _, f := range fs {
			if _, dup := got[f.Package.Name]; dup {
				t.Errorf("after %s: two findings for %s", step.src, f.Package.Name)
			}
			got[f.Package.Name] = rating{f.ID, f.Severity, f.SeveritySource}
		}
		for name, want := range step.want {
			if got[name] != want {
				t.Errorf("after %s: %s = %+v, want %+v", step.src, name, got[name], want)
			}
		}
		if len(got) != len(step.want) {
			t.Errorf("after %s: findings for %v, want %d packages", step.src, got, len(step.want))
		}
	}
}
