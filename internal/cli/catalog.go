package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/user"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/evidence"
)

func newCatalogCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "catalog",
		Short: "The catalog: every image version with its evidence, status and history",
		Long: `The catalog: every image version ingot built, with its digests, inventory, findings, where it
lives, what was signed for it, and its status (active, deprecated, revoked, eol), with the history of
every change.

A version is a digest: each build that changes an image's digest is a new version of its release line
(the spec's version), with an immutable tag LINE-rN. Name versions as IMAGE@TAG (app@1.2.3-r4),
IMAGE@LINE (the newest active version of the line), IMAGE@latest or IMAGE alone (the newest active
version of the image), or IMAGE@sha256:... (the version's digest or one of its platform images').

The catalog is SQLite in the data directory (<data-dir>/catalog.db) unless --catalog or
$INGOT_CATALOG names a PostgreSQL database (postgres://user@host/db).`,
	}
	cmd.AddCommand(newCatalogLsCmd(g), newCatalogShowCmd(g), newCatalogHistoryCmd(g), newCatalogDiffCmd(g),
		newCatalogQueryCmd(g))
	for _, v := range statusVerbs() {
		cmd.AddCommand(newCatalogStatusCmd(g, v))
	}
	cmd.AddCommand(newCatalogAddCmd(g), newCatalogRmCmd(g), newCatalogSpecsCmd(g), newCatalogCycleCmd(g))
	cmd.AddCommand(newCatalogCloudCmds(g)...) // vm images in clouds (catalog_cloud.go)
	return cmd
}

// withCatalog opens the catalog the environment names, runs fn and closes it.
func (g *globalFlags) withCatalog(ctx context.Context, fn func(c catalog.Catalog) error) error {
	env, err := g.env()
	if err != nil {
		return err
	}
	c, err := env.Store().Catalog(ctx)
	if err != nil {
		return err
	}
	err = fn(c)
	if cerr := c.Close(); err == nil {
		err = cerr
	}
	return err
}

func addOutputFlag(cmd *cobra.Command, output *string) {
	cmd.Flags().StringVarP(output, "output", "o", "table", "output format: "+oneOf(plainFormats()))
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// parseRef reads IMAGE[@VERSION]; version requires the version part.
func parseRef(s string, version bool) (catalog.Ref, error) {
	r, err := catalog.ParseRef(s)
	if err != nil {
		return r, err
	}
	if version && r.Version == "" {
		return r, usageErrorf("%q names an image: name one of its versions, IMAGE@VERSION (a tag such as 1.2.3-r4, a release line, latest or a digest)", s)
	}
	return r, nil
}

// parseStatuses reads --status values (repeated or comma-separated).
func parseStatuses(values []string) ([]catalog.Status, error) {
	var out []catalog.Status
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			if part = strings.TrimSpace(part); part == "" {
				continue
			}
			st, err := catalog.ParseStatus(part)
			if err != nil {
				return nil, err
			}
			out = append(out, st)
		}
	}
	return out, nil
}

func statusNames() []string {
	var out []string
	for _, s := range catalog.AllStatuses() {
		out = append(out, string(s))
	}
	return out
}

func addStatusFlag(cmd *cobra.Command, statuses *[]string, what string) {
	cmd.Flags().StringSliceVar(statuses, "status", nil, what+" in these statuses only: "+oneOf(statusNames())+" (repeatable, or comma-separated)")
}

// short abbreviates a digest for tables.
func short(d string) string {
	if len(d) > len("sha256:")+12 {
		return d[:len("sha256:")+12]
	}
	return d
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.DateTime)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newCatalogLsCmd(g *globalFlags) *cobra.Command {
	var output string
	var statuses []string
	var pending bool
	var limit int
	cmd := &cobra.Command{
		Use:   "ls [IMAGE]",
		Short: "List the versions in the catalog, newest first",
		Long: `List the versions in the catalog (of IMAGE, or of every image), newest first: tag, status,
platforms, digest and when each was published. --status keeps some statuses; --pending adds the
versions written before their push that were never published (the next rebuild cycle completes or
removes them). -o json prints each version's record without its evidence, spec and lock.`,
		Args: usageArgs(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, plainFormats()); err != nil {
				return err
			}
			o := catalog.ListOptions{Pending: pending, Limit: limit}
			if len(args) == 1 {
				r, err := parseRef(args[0], false)
				if err != nil {
					return err
				}
				if r.Version != "" {
					return usageErrorf("ls takes an image, not a version (%s): see ingot catalog show", args[0])
				}
				o.Image = r.Image
			}
			var err error
			if o.Statuses, err = parseStatuses(statuses); err != nil {
				return err
			}
			if limit < 0 {
				return usageErrorf("--limit %d: want a number of versions, 0 for all", limit)
			}
			return g.withCatalog(cmd.Context(), func(c catalog.Catalog) error {
				vs, err := c.List(cmd.Context(), o)
				if err != nil {
					return err
				}
				if output == "json" {
					if vs == nil {
						vs = []*catalog.Version{}
					}
					return writeJSON(cmd.OutOrStdout(), vs)
				}
				return writeVersions(cmd.OutOrStdout(), vs)
			})
		},
	}
	addStatusFlag(cmd, &statuses, "versions")
	cmd.Flags().BoolVar(&pending, "pending", false, "include versions that were never published")
	cmd.Flags().IntVar(&limit, "limit", 0, "list at most this many versions (0: all)")
	addOutputFlag(cmd, &output)
	return cmd
}

func writeVersions(w io.Writer, vs []*catalog.Version) error {
	if len(vs) == 0 {
		_, err := fmt.Fprintln(w, "no versions")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "IMAGE\tTAG\tSTATUS\tPLATFORMS\tDIGEST\tPUBLISHED")
	for _, v := range vs {
		status := string(v.Status.Status)
		if v.State == catalog.StatePending {
			status = "pending"
		} else if !v.DeprecateAt.IsZero() && v.Status.Status == catalog.StatusActive {
			status += " (deprecated from " + stamp(v.DeprecateAt) + ")"
		}
		var plats []string
		for _, p := range v.Platforms {
			plats = append(plats, p.Name())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", v.Image, v.Tag(), status, strings.Join(plats, ","), short(v.Digest), stamp(v.Published))
	}
	return tw.Flush()
}

func newCatalogShowCmd(g *globalFlags) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "show IMAGE[@VERSION]",
		Short: "Show one version: digests, evidence summary, where it lives, what was signed, its history",
		Long: `Show one version (IMAGE alone: its newest active version): its status and how it came to be,
each platform image with its digest, number of packages and open findings by severity (as of the
newest scan), where it is stored, the signatures and attestations written for it, and its history.
-o json prints the whole record: evidence (inventories, findings, SBOMs, provenance), spec and lock.`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, plainFormats()); err != nil {
				return err
			}
			r, err := parseRef(args[0], false)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			return g.withCatalog(ctx, func(c catalog.Catalog) error {
				v, err := c.Get(ctx, r)
				if err != nil {
					return err
				}
				if output == "json" {
					return writeJSON(cmd.OutOrStdout(), v)
				}
				vref := catalog.Ref{Image: v.Image, Version: v.Tag()}
				history, err := c.History(ctx, vref)
				if err != nil {
					return err
				}
				findings, err := c.FindingHistory(ctx, vref)
				if err != nil {
					return err
				}
				return writeShow(cmd.OutOrStdout(), v, history, findings)
			})
		},
	}
	addOutputFlag(cmd, &output)
	return cmd
}

// severityCounts says "1 critical, 2 high" for the open findings that count, most severe first.
func severityCounts(fs []catalog.TrackedFinding, platform string) string {
	counts := map[evidence.Severity]int{}
	for _, f := range fs {
		if f.Platform == platform && f.Open && f.Finding.Counts() {
			counts[f.Finding.Severity]++
		}
	}
	var parts []string
	sevs := evidence.Severities()
	for i := len(sevs) - 1; i >= 0; i-- {
		if n := counts[sevs[i]]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, sevs[i]))
		}
	}
	if len(parts) == 0 {
		return "no open findings"
	}
	return strings.Join(parts, ", ")
}

func writeShow(w io.Writer, v *catalog.Version, history []catalog.Event, findings []catalog.TrackedFinding) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "version:\t%s\n", v.Ref())
	fmt.Fprintf(tw, "digest:\t%s\n", v.Digest)
	st := v.Status
	fmt.Fprintf(tw, "status:\t%s since %s", st.Status, stamp(st.At))
	if st.Actor != "" {
		fmt.Fprintf(tw, " by %s", st.Actor)
	}
	if st.Reason != "" {
		fmt.Fprintf(tw, ": %s", st.Reason)
	}
	fmt.Fprintln(tw)
	if !v.DeprecateAt.IsZero() && st.Status == catalog.StatusActive {
		fmt.Fprintf(tw, "superseded:\tdeprecated from %s\n", stamp(v.DeprecateAt))
	}
	if v.State == catalog.StatePending {
		fmt.Fprintf(tw, "state:\tpending: never published\n")
	}
	fmt.Fprintf(tw, "built:\t%s (%s)\n", stamp(v.Built), orDash(v.Reason))
	fmt.Fprintf(tw, "published:\t%s\n", stamp(v.Published))
	fmt.Fprintf(tw, "kind:\t%s, release line %s, serial %d\n", v.Kind, v.Line, v.Serial)
	fmt.Fprintf(tw, "spec:\tsha256:%s\n", orDash(v.SpecDigest))
	fmt.Fprintf(tw, "lock:\tsha256:%s\n", orDash(v.LockDigest))
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nplatforms:")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, p := range v.Platforms {
		pkgs := "no inventory"
		if p.Evidence != nil && p.Evidence.Inventory != nil {
			pkgs = fmt.Sprintf("%d packages", len(p.Evidence.Inventory.Packages))
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", p.Name(), p.Digest, pkgs, severityCounts(findings, p.Name()))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if err := writeDisks(w, v); err != nil { // vm versions (catalog_cloud.go)
		return err
	}
	fmt.Fprintln(w, "\nlocations:")
	if len(v.Locations) == 0 {
		fmt.Fprintln(w, "  none")
	}
	for _, l := range v.Locations {
		fmt.Fprintf(w, "  %-9s %s\n", l.Kind, l.Ref)
	}
	fmt.Fprintln(w, "\nsignatures and attestations:")
	if len(v.Artifacts) == 0 {
		fmt.Fprintln(w, "  none")
	}
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, a := range v.Artifacts {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\tkey %s\t%s\n", a.Kind, a.Format, orDash(a.PredicateType), short(a.Subject), orDash(a.KeyID), a.Ref)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nhistory:")
	return writeEvents(w, history, "  ")
}

func newCatalogHistoryCmd(g *globalFlags) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "history IMAGE[@VERSION]",
		Short: "Show the history of an image or of one version: publications, status changes, re-scans",
		Long: `Show the events of an image (every version) or of one version, oldest first: each publication
(with why the version was built), each status change (from, to, who and why) and each re-scan that
changed the findings. Every event has a sequence number that only grows.`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, plainFormats()); err != nil {
				return err
			}
			r, err := parseRef(args[0], false)
			if err != nil {
				return err
			}
			return g.withCatalog(cmd.Context(), func(c catalog.Catalog) error {
				evs, err := c.History(cmd.Context(), r)
				if err != nil {
					return err
				}
				if output == "json" {
					return writeJSON(cmd.OutOrStdout(), evs)
				}
				return writeEvents(cmd.OutOrStdout(), evs, "")
			})
		},
	}
	addOutputFlag(cmd, &output)
	return cmd
}

func writeEvents(w io.Writer, evs []catalog.Event, indent string) error {
	if len(evs) == 0 {
		_, err := fmt.Fprintln(w, indent+"no events")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, indent+"SEQ\tTIME\tTAG\tEVENT\tSTATUS\tACTOR\tREASON")
	for _, e := range evs {
		status := string(e.Status)
		if e.From != "" {
			status = string(e.From) + " -> " + status
		}
		fmt.Fprintf(tw, "%s%d\t%s\t%s\t%s\t%s\t%s\t%s\n", indent, e.Seq, stamp(e.At), e.Tag, e.Kind, status, orDash(e.Actor), orDash(e.Reason))
	}
	return tw.Flush()
}

func newCatalogDiffCmd(g *globalFlags) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "diff IMAGE@VERSION IMAGE@VERSION",
		Short: "Compare two versions: packages added, removed and changed; findings fixed and introduced",
		Long: `Compare two versions platform by platform: the packages added, removed and changed (a package is
its type, name and architecture), and the vulnerability findings fixed and introduced, as of each
version's newest scan. The two may be versions of different images.`,
		Args: usageArgs(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, plainFormats()); err != nil {
				return err
			}
			var refs [2]catalog.Ref
			for i, a := range args {
				r, err := parseRef(a, false)
				if err != nil {
					return err
				}
				refs[i] = r
			}
			ctx := cmd.Context()
			return g.withCatalog(ctx, func(c catalog.Catalog) error {
				var vs [2]*catalog.Version
				for i, r := range refs {
					v, err := catalog.GetCurrent(ctx, c, r)
					if err != nil {
						return err
					}
					vs[i] = v
				}
				d := catalog.Diff(vs[0], vs[1])
				if output == "json" {
					return writeJSON(cmd.OutOrStdout(), d)
				}
				return writeDiff(cmd.OutOrStdout(), d)
			})
		},
	}
	addOutputFlag(cmd, &output)
	return cmd
}

func writeDiff(w io.Writer, d catalog.VersionDiff) error {
	fmt.Fprintf(w, "%s -> %s\n", d.From, d.To)
	if !d.Differs() {
		_, err := fmt.Fprintln(w, "no differences")
		return err
	}
	for _, p := range d.Platforms {
		if !p.Differs() {
			continue
		}
		title := p.Platform
		switch p.Only {
		case "from":
			title += " (only in " + d.From + ")"
		case "to":
			title += " (only in " + d.To + ")"
		}
		fmt.Fprintf(w, "\n%s\n", title)
		for _, x := range p.Added {
			fmt.Fprintf(w, "  + %s %s\n", x.Name, x.Version)
		}
		for _, x := range p.Removed {
			fmt.Fprintf(w, "  - %s %s\n", x.Name, x.Version)
		}
		for _, x := range p.Changed {
			fmt.Fprintf(w, "  ~ %s %s -> %s\n", x.Name, x.From, x.To)
		}
		for _, f := range p.Fixed {
			fmt.Fprintf(w, "  fixed       %s\n", describeFinding(f))
		}
		for _, f := range p.Introduced {
			fmt.Fprintf(w, "  introduced  %s\n", describeFinding(f))
		}
	}
	return nil
}

func describeFinding(f evidence.Finding) string {
	s := fmt.Sprintf("%s (%s)", f.ID, f.Severity)
	if f.Package != nil {
		s += " in " + f.Package.Name + " " + f.Package.Version
	}
	return s
}

func newCatalogQueryCmd(g *globalFlags) *cobra.Command {
	var output, name, ecosystem, rng string
	var statuses []string
	var page catalog.Page
	cmd := &cobra.Command{
		Use:   "query --package NAME [--ecosystem E] [--version-range R] [--status S] [--limit N --offset M]",
		Short: "Which versions ship a package: the exposure query",
		Long: `Find the versions that ship a package, with each version's status and the platform and version
of the package. NAME is a package name or, for Debian packages, a source package (as advisories name
them: --package openssl finds libssl3). --ecosystem is an OSV ecosystem: "Debian:12" for one release,
"Debian" for every release, "Go", "npm", "PyPI". --version-range takes comparisons separated by
commas ("<3.0.13-1~deb12u1", ">=1.0, <2.0", "!=4.2"), ordered as the ecosystem orders versions (dpkg's
epochs and tildes, semantic versions for Go and npm, PEP 440 for PyPI). Versions never published are
left out. The answer is ordered by image, newest version first; --limit and --offset give a page of
it, and the table then says how many there are in all.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output, plainFormats()); err != nil {
				return err
			}
			if strings.TrimSpace(name) == "" {
				return usageErrorf("--package is required: the package to look for")
			}
			q := catalog.PackageQuery{Name: name, Ecosystem: ecosystem, Range: rng}
			var err error
			if q.Statuses, err = parseStatuses(statuses); err != nil {
				return err
			}
			if page.Limit < 0 || page.Offset < 0 {
				return usageErrorf("--limit and --offset are zero or more")
			}
			return g.withCatalog(cmd.Context(), func(c catalog.Catalog) error {
				p, err := c.QueryPackagePage(cmd.Context(), q, page)
				if err != nil {
					return err
				}
				if output == "json" {
					return writeJSON(cmd.OutOrStdout(), p.Exposures)
				}
				if len(p.Exposures) == 0 && p.Total > 0 {
					_, err := fmt.Fprintf(cmd.OutOrStdout(), "nothing from %d: the answer has %d\n", page.Offset+1, p.Total)
					return err
				}
				if err := writeExposures(cmd.OutOrStdout(), q, p.Exposures); err != nil || len(p.Exposures) == p.Total {
					return err
				}
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "%d to %d of %d\n", page.Offset+1, page.Offset+len(p.Exposures), p.Total)
				return err
			})
		},
	}
	cmd.Flags().IntVar(&page.Limit, "limit", 0, "answer at most this many (0: every one)")
	cmd.Flags().IntVar(&page.Offset, "offset", 0, "skip this many of the answer first")
	cmd.Flags().StringVar(&name, "package", "", "package (or Debian source package) name")
	cmd.Flags().StringVar(&ecosystem, "ecosystem", "", `OSV ecosystem ("Debian" matches every Debian release)`)
	cmd.Flags().StringVar(&rng, "version-range", "", `versions to match, e.g. "<1.2.3" or ">=1.0, <2.0"`)
	addStatusFlag(cmd, &statuses, "versions")
	addOutputFlag(cmd, &output)
	return cmd
}

func writeExposures(w io.Writer, q catalog.PackageQuery, es []catalog.Exposure) error {
	if len(es) == 0 {
		what := q.Name
		if q.Range != "" {
			what += " " + q.Range
		}
		_, err := fmt.Fprintf(w, "no version ships %s\n", what)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "IMAGE\tTAG\tSTATUS\tPLATFORM\tPACKAGE\tVERSION\tECOSYSTEM")
	for _, e := range es {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Image, e.Tag, e.Status, e.Platform, e.Package.Name, e.Package.Version, orDash(e.Package.Ecosystem))
	}
	return tw.Flush()
}

// statusVerb is a verb that changes a version's status.
type statusVerb struct {
	name   string
	status catalog.Status
	short  string
}

func statusVerbs() []statusVerb {
	return []statusVerb{
		{"revoke", catalog.StatusRevoked, "Revoke a version: it must not run (admission refuses it)"},
		{"deprecate", catalog.StatusDeprecated, "Deprecate a version: superseded, to be replaced"},
		{"restore", catalog.StatusActive, "Restore a version to active"},
		{"eol", catalog.StatusEOL, "Mark a version end of life, retired with its release line"},
	}
}

// defaultActor is who changes a status when --actor is not given: the OS user.
func defaultActor() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "unknown"
}

func newCatalogStatusCmd(g *globalFlags, v statusVerb) *cobra.Command {
	var output, reason, actor string
	cmd := &cobra.Command{
		Use:   v.name + " IMAGE@VERSION --reason TEXT",
		Short: v.short,
		Long: v.short + `.

Statuses move: active to any other; deprecated to revoked or eol; eol to revoked; and back to active
(restore) from any. Setting the status a version already has, or a move not listed, is refused and
changes nothing. --reason is required: every change says why. The change is recorded in the
version's history with the actor (the OS user unless --actor).`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, plainFormats()); err != nil {
				return err
			}
			if strings.TrimSpace(reason) == "" {
				return usageErrorf("--reason is required: say why %s is %s", args[0], v.status)
			}
			r, err := parseRef(args[0], true)
			if err != nil {
				return err
			}
			if actor == "" {
				actor = defaultActor()
			}
			return g.withCatalog(cmd.Context(), func(c catalog.Catalog) error {
				ev, err := c.SetStatus(cmd.Context(), r, catalog.StatusChange{Status: v.status, Reason: reason, Actor: actor, At: time.Now()})
				if err != nil {
					return err
				}
				if output == "json" {
					return writeJSON(cmd.OutOrStdout(), ev)
				}
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s@%s: %s -> %s (event %d)\n", ev.Image, ev.Tag, ev.From, ev.Status, ev.Seq)
				return err
			})
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why (required)")
	cmd.Flags().StringVar(&actor, "actor", "", "who, for the history (default: the OS user)")
	addOutputFlag(cmd, &output)
	return cmd
}
