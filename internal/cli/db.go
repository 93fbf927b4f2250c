package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/rebuild"
	"github.com/ingot-build/ingot/pkg/vuln"
)

func newDBCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "db",
		Short: "Manage the local vulnerability database (OSV data) that ingot scan reads",
		Long: `Manage the local vulnerability database that ingot scan reads.

The data is OSV JSON, kept as an index under <data-dir>/vulndb, one file per source. Imports and
updates replace a source atomically: when one fails, the previous data stays. A scan never fetches.

After an import or an update, every active version of the catalog is re-scanned from its recorded
inventory (--no-rescan skips it). ` + policyHelp,
	}
	cmd.AddCommand(newDBImportCmd(g), newDBStatusCmd(g), newDBUpdateCmd(g))
	return cmd
}

func newDBImportCmd(g *globalFlags) *cobra.Command {
	var name string
	var rs rescanFlags
	maxSize := byteSize(vuln.DefaultMaxSize)
	cmd := &cobra.Command{
		Use:   "import SRC",
		Short: "Import OSV records from a directory, a zip, or an osv-scanner offline database",
		Long: `Import OSV records from SRC into the local vulnerability database.

SRC is a directory of OSV JSON files (searched recursively, zips inside included), a .zip of them (as
osv.dev publishes per ecosystem: <Ecosystem>/all.zip), a directory laid out as osv-scanner's offline
databases, or one .json record. The records become the source --name (default: SRC's base name, or its
directory's for an all.zip), replacing what that source held before. A record that cannot be read fails
the whole import, naming its file, and changes nothing.

The records may inflate to --max-size bytes at most, all of SRC together (zip entries counted
decompressed): a larger source is refused as an archive bomb, early when the zips' directories already
say so, else as soon as the limit is read. Zips listing more than 10 million entries, one or all
together, are refused before they are read. A missing SRC, a file that is not a zip, an empty one or a record that is not OSV JSON is
bad input (exit code 2).`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			env, err := g.writeEnv(cmd)
			if err != nil {
				return err
			}
			policy, err := rs.check(env)
			if err != nil {
				return err
			}
			stats, err := env.Store().VulnDB().Import(cmd.Context(), args[0], vuln.ImportOptions{Name: name, MaxSize: int64(maxSize)})
			if err != nil {
				return sizeHint(err)
			}
			printDBImport(cmd.OutOrStdout(), "imported", stats)
			return rs.rescan(cmd, g, env, policy, "vulnerability data imported: "+stats.Source)
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "source name (default: derived from SRC)")
	cmd.Flags().Var(&maxSize, "max-size", "refuse data that inflates to more than this (e.g. 500MiB, 8GiB)")
	rs.add(cmd)
	return cmd
}

// sizeHint says which flag raises the limit a source went over.
func sizeHint(err error) error {
	if errors.Is(err, vuln.ErrTooLarge) {
		return fmt.Errorf("%w (raise the limit with --max-size if the data is genuine)", err)
	}
	return err
}

func printDBImport(w io.Writer, verb string, s vuln.ImportStats) {
	fmt.Fprintf(w, "%s %d records (%d withdrawn) as source %s\n", verb, s.Records, s.Withdrawn, s.Source)
	ecos := make([]string, 0, len(s.Ecosystems))
	for e := range s.Ecosystems {
		ecos = append(ecos, e)
	}
	sort.Strings(ecos)
	for _, e := range ecos {
		fmt.Fprintf(w, "  %-20s %d\n", e, s.Ecosystems[e])
	}
}

func newDBStatusCmd(g *globalFlags) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the imported sources: records per ecosystem, when imported, newest record",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output, plainFormats()); err != nil {
				return err
			}
			env, err := g.env()
			if err != nil {
				return err
			}
			st, err := env.Store().VulnDB().Status()
			if err != nil {
				return err
			}
			if output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			return writeDBStatus(cmd.OutOrStdout(), st, time.Now())
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: "+oneOf(plainFormats()))
	return cmd
}

// writeDBStatus prints one block per source: where it came from and its age, then its ecosystems.
func writeDBStatus(w io.Writer, st vuln.Status, now time.Time) error {
	if len(st.Sources) == 0 {
		fmt.Fprintf(w, "no vulnerability data in %s (run ingot db import or ingot db update)\n", st.Dir)
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tECOSYSTEM\tRECORDS\tWITHDRAWN\tPACKAGES\tIMPORTED\tNEWEST RECORD")
	for _, s := range st.Sources {
		newest := "unknown"
		if !s.Modified.IsZero() {
			newest = s.Modified.UTC().Format(time.DateOnly) + " (" + dbAge(now, s.Modified) + ")"
		}
		imported := s.Imported.UTC().Format(time.DateTime) + " (" + dbAge(now, s.Imported) + ")"
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t\t%s\t%s\n", s.Name, "(all)", s.Records, s.Withdrawn, imported, newest)
		for _, e := range s.Ecosystems {
			fmt.Fprintf(tw, "\t%s\t%d\t%d\t%d\t\t\n", e.Name, e.Records, e.Withdrawn, e.Packages)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, s := range st.Sources {
		fmt.Fprintf(w, "%s: from %s\n", s.Name, s.Origin)
	}
	return nil
}

// dbAge says how long ago t was, roughly.
func dbAge(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d.Hours()))
	default:
		return fmt.Sprintf("%d days ago", int(d.Hours()/24))
	}
}

func newDBUpdateCmd(g *globalFlags) *cobra.Command {
	var url string
	var ecosystems []string
	var rs rescanFlags
	maxSize := byteSize(vuln.DefaultMaxSize)
	cmd := &cobra.Command{
		Use:   "update [--url URL] [--ecosystem Go,Debian:12 ...]",
		Short: "Download OSV's per-ecosystem data (the ecosystems the catalog holds) and import it",
		Long: `Download <URL>/<Ecosystem>/all.zip for each ecosystem and import them together as the source "osv".

URL comes from --url, else $INGOT_VULNDB_URL, else OSV's public bucket (` + vuln.DefaultUpdateURL + `),
which publishes every ecosystem's records in that layout (a mirror of it, or a directory served over
HTTP, works the same). The ecosystems are those --ecosystem names, else those the catalog's versions
hold (their inventories' ecosystems: Debian:12, Go...) together with those of the previous update.
The update is atomic: if a download or a record fails, the previous data stays. The downloads
together, and the records they inflate to, may not exceed --max-size.

Offline, import the same zips instead: ingot db import DIR, where DIR holds <Ecosystem>/all.zip.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			env, err := g.writeEnv(cmd)
			if err != nil {
				return err
			}
			policy, err := rs.check(env)
			if err != nil {
				return err
			}
			if url == "" {
				url = env.VulnDBURL
			}
			if url == "" {
				url = vuln.DefaultUpdateURL
			}
			ecos := splitList(ecosystems)
			if len(ecos) == 0 {
				if ecos, err = updateEcosystems(cmd, g, env); err != nil {
					return err
				}
			}
			// The test hook's transport, when set, holds the download to loopback.
			stats, err := env.Store().VulnDB().Update(cmd.Context(), url, ecos, vuln.UpdateOptions{Client: &http.Client{Transport: g.transport}, MaxSize: int64(maxSize)})
			if err != nil {
				return sizeHint(err)
			}
			printDBImport(cmd.OutOrStdout(), "updated", stats)
			return rs.rescan(cmd, g, env, policy, "vulnerability data updated")
		},
	}
	cmd.Flags().StringVar(&url, "url", "", "base URL of the OSV data (default $INGOT_VULNDB_URL, else OSV's public bucket)")
	cmd.Flags().StringArrayVar(&ecosystems, "ecosystem", nil, "OSV ecosystem to fetch, e.g. Go, npm, PyPI, Debian:12, Alpine:v3.19 (repeatable, or comma-separated; default: the catalog's)")
	cmd.Flags().Var(&maxSize, "max-size", "refuse downloads and data that inflate to more than this (e.g. 500MiB, 8GiB)")
	rs.add(cmd)
	return cmd
}

// updateEcosystems are the ecosystems an update fetches when none is named: those of the catalog's
// packages, with those of the previous update.
func updateEcosystems(cmd *cobra.Command, g *globalFlags, env Env) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	add := func(e string) {
		if e != "" && !seen[e] {
			seen[e] = true
			out = append(out, e)
		}
	}
	err := g.withCatalog(cmd.Context(), func(c catalog.Catalog) error {
		pkgs, err := c.Packages(cmd.Context())
		for _, p := range pkgs {
			add(p.Ecosystem)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(out)
	st, err := env.Store().VulnDB().Status()
	if err != nil {
		return nil, err
	}
	for _, s := range st.Sources {
		if s.Name == vuln.UpdateSource {
			for _, e := range s.Requested {
				add(e)
			}
		}
	}
	if len(out) == 0 {
		return nil, usageErrorf("no ecosystems to update: the catalog holds no versions yet and nothing was updated before; name them with --ecosystem (Debian:12, Go, ...)")
	}
	return out, nil
}

// rescanFlags are the re-scan after an import or update.
type rescanFlags struct {
	skip   bool
	policy policyFlags
}

func (f *rescanFlags) add(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.skip, "no-rescan", false, "do not re-scan the catalog's active versions afterwards")
	f.policy.add(cmd)
}

// check reads the policy before anything is imported, so a bad flag changes nothing.
func (f *rescanFlags) check(env Env) (rebuild.Policy, error) {
	return f.policy.policy(env)
}

// rescan re-scans the catalog's active versions against the new data and prints what changed.
func (f *rescanFlags) rescan(cmd *cobra.Command, g *globalFlags, env Env, policy rebuild.Policy, reason string) error {
	if f.skip {
		return nil
	}
	st := env.Store()
	return g.withCatalog(cmd.Context(), func(c catalog.Catalog) error {
		res, err := rebuild.Rescan(cmd.Context(), c, st.VulnDB(), rebuild.RescanOptions{Policy: policy, Store: &st, Reason: reason})
		if err != nil {
			return fmt.Errorf("re-scanning the catalog: %w", err)
		}
		writeRescan(cmd.OutOrStdout(), res)
		return nil
	})
}
