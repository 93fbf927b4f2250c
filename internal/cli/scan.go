package cli

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/ingot-build/ingot/internal/selfid"
	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/imageref"
	"github.com/ingot-build/ingot/pkg/report"
	"github.com/ingot-build/ingot/pkg/sbom"
	"github.com/ingot-build/ingot/pkg/vuln"
)

// formatCosignVuln writes cosign's vuln predicate instead of a report.
const formatCosignVuln = "cosign-vuln"

type scanFlags struct {
	output      string
	sbomFile    string
	vex         []string
	failOn      string
	unknownAs   string
	requireData bool
	onlyFixed   bool
	platform    string
}

func newScanCmd(g *globalFlags) *cobra.Command {
	f := &scanFlags{}
	cmd := &cobra.Command{
		Use:   "scan [IMAGE]",
		Short: "Match an image's packages against the imported vulnerability data",
		Long: `Match an image's packages against the imported vulnerability data (see ingot db import).

` + imageHelp + `

--sbom FILE scans an SPDX or CycloneDX document instead. Debian packages are matched through their
source package, versions compare by each ecosystem's rules, and severity comes from CVSS v3/v4 vectors,
else the advisory's own rating. An advisory with neither (every Go advisory) takes the worst rating of
the records it aliases, that alias it or share an alias with it, in any imported source (osv.dev's Go
export carries GitHub's GHSA records beside the GO ones); the finding's severitySource names that
record. With none, its severity is unknown. Nothing is fetched.

--vex applies OpenVEX documents (not_affected and fixed findings are kept, with their justification,
but do not count). --fail-on LEVEL exits with code 3 when a counting finding is at or above it;
--fail-on unknown fails on any counting finding. Findings of unknown severity count at --unknown-as
(default high), which the summary states; reports keep them unknown.

The report says which data each ecosystem of the image was checked against, and which were not
checked at all (no data imported for Debian:12, say): "no findings" there means nothing.
--require-data exits with code 3, like --fail-on, when an ecosystem was not checked.

-o is table, json, sarif or cosign-vuln (the predicate cosign attest --type vuln takes). A missing or
malformed --sbom or --vex document is bad input (exit code 2). For an index, --fail-on counts the
findings of every platform; -o cosign-vuln describes one image, so it needs --platform. An SBOM
ingot wrote for an index holds every platform's packages, and --sbom scans them together.`,
		Args: usageArgs(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if (len(args) == 1) == (f.sbomFile != "") {
				return usageErrorf("give an IMAGE or --sbom FILE, not both or neither")
			}
			if err := checkOutput(f.output, scanFormats()); err != nil {
				return err
			}
			threshold, err := parseFailOn(f.failOn)
			if err != nil {
				return err
			}
			unknownAs, err := parseUnknownAs(f.unknownAs)
			if err != nil {
				return err
			}
			env, err := g.env()
			if err != nil {
				return err
			}
			docs, err := vuln.LoadVEX(f.vex...)
			if err != nil {
				return err
			}
			started := time.Now()
			set, invs, err := scanInventories(cmd, g, env, f, args)
			if err != nil {
				return err
			}
			db := env.Store().VulnDB()
			st, err := db.Status()
			if err != nil {
				return err
			}
			if len(st.Sources) == 0 {
				return fmt.Errorf("no vulnerability data in %s: run ingot db import (or ingot db update) first", db.Dir)
			}
			reports := make([]evidence.Report, len(invs))
			for i, inv := range invs {
				if reports[i], err = db.Scan(cmd.Context(), inv, vuln.ScanOptions{VEX: docs, OnlyFixed: f.onlyFixed, UnknownAs: unknownAs}); err != nil {
					return err
				}
			}
			r := reports[0]
			if f.output == formatCosignVuln {
				data, err := vuln.CosignPredicate(r, vuln.PredicateOptions{
					ScannerVersion: selfid.Version(), DBURI: db.Dir, DBVersion: dbVersion(st),
					Started: started, Finished: time.Now(),
				})
				if err != nil {
					return err
				}
				if _, err := cmd.OutOrStdout().Write(append(data, '\n')); err != nil {
					return err
				}
			} else if err := renderSet(cmd.OutOrStdout(), f.output, set, reports); err != nil {
				return err
			}
			gate := []error{failOn(reports, threshold)}
			if f.requireData {
				var un []evidence.Coverage
				for _, r := range reports {
					un = append(un, evidence.Unchecked(r.Coverage)...)
				}
				if len(un) > 0 {
					gate = append(gate, &UncheckedError{Unchecked: un})
				}
			}
			return errors.Join(gate...)
		},
	}
	cmd.Flags().StringVarP(&f.output, "output", "o", report.FormatTable, "output format: "+oneOf(scanFormats()))
	cmd.Flags().StringVar(&f.sbomFile, "sbom", "", "scan this SPDX or CycloneDX JSON document instead of an image")
	cmd.Flags().StringArrayVar(&f.vex, "vex", nil, "OpenVEX document to apply (repeatable)")
	cmd.Flags().StringVar(&f.failOn, "fail-on", "", failOnHelp())
	cmd.Flags().StringVar(&f.unknownAs, "unknown-as", evidence.DefaultUnknownAs.String(), "the level --fail-on counts findings of unknown severity at: "+oneOf(evidence.Levels()))
	cmd.Flags().BoolVar(&f.requireData, "require-data", false, "exit 3 when an ecosystem of the image has no vulnerability data to be checked against")
	addPlatformFlag(cmd, &f.platform)
	cmd.Flags().BoolVar(&f.onlyFixed, "only-fixed", false, "report only vulnerabilities that have a fix")
	return cmd
}

// scanInventories is what scan matches: the inventory of the --sbom document (and no set), or that
// of the image, or of each platform image of an index (from the inventory cache).
func scanInventories(cmd *cobra.Command, g *globalFlags, env Env, f *scanFlags, args []string) (*imageref.Set, []*evidence.Inventory, error) {
	if f.sbomFile != "" {
		if f.platform != "" {
			return nil, nil, usageErrorf("--platform picks an image of an index; with --sbom, give the SBOM of that platform")
		}
		data, err := os.ReadFile(f.sbomFile)
		if err != nil {
			return nil, nil, usageError{err}
		}
		inv, err := sbom.Decode(data)
		if err != nil {
			return nil, nil, fmt.Errorf("reading %s: %w", f.sbomFile, err)
		}
		return nil, []*evidence.Inventory{inv}, nil
	}
	set, err := openImages(cmd.Context(), g, env, args[0], f.platform)
	if err != nil {
		return nil, nil, err
	}
	if f.output == formatCosignVuln && len(set.Images) > 1 {
		return nil, nil, usageErrorf("-o %s is a predicate about one image, and %s is an index of %s: pick one with --platform", formatCosignVuln, args[0], platformList(set))
	}
	var invs []*evidence.Inventory
	for _, img := range set.Images {
		inv, err := g.inventories(cmd, env).Inventory(cmd.Context(), img, sbom.Options{Ref: args[0], Limits: g.limits()})
		if err != nil {
			if img.Platform != nil {
				return nil, nil, fmt.Errorf("%s: %w", img.Platform, err)
			}
			return nil, nil, err
		}
		invs = append(invs, inv)
	}
	return set, invs, nil
}

// dbVersion summarises the database for the predicate: the newest modification among its sources.
func dbVersion(st vuln.Status) string {
	var newest time.Time
	for _, s := range st.Sources {
		if s.Imported.After(newest) {
			newest = s.Imported
		}
	}
	if newest.IsZero() {
		return ""
	}
	return newest.UTC().Format(time.RFC3339)
}
