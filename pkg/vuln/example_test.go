package vuln_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/vuln"
)

func ExampleDB_Match() {
	dir, err := os.MkdirTemp("", "vulndb")
	if err != nil {
		panic(err)
	}
	defer func() { _ = os.RemoveAll(dir) }()
	db := &vuln.DB{Dir: filepath.Join(dir, "vulndb")}
	ctx := context.Background()

	// Import OSV records once (a directory, a zip, or osv-scanner's offline tree)...
	stats, err := db.Import(ctx, "testdata/osv/npm", vuln.ImportOptions{Name: "npm-advisories"})
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s: %d records\n", stats.Source, stats.Records)

	// ...then match inventories against them, offline.
	inv := &evidence.Inventory{Packages: []evidence.Package{
		{Name: "lodash", Version: "4.17.20", Type: evidence.TypeNPM, PURL: "pkg:npm/lodash@4.17.20"},
		{Name: "left-pad", Version: "1.0.0", Type: evidence.TypeNPM},
	}}
	findings, err := db.Match(ctx, inv)
	if err != nil {
		panic(err)
	}
	for _, f := range findings {
		fmt.Printf("%s %s@%s %s, fixed in %s, also %v\n", f.ID, f.Package.Name, f.Package.Version, f.Severity, f.FixedVersion, f.Aliases)
	}
	// Output:
	// npm-advisories: 3 records
	// GHSA-35jh-r3h4-6jhm lodash@4.17.20 high, fixed in 4.17.21, also [CVE-2021-23337]
}
