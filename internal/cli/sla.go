package cli

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/rebuild"
)

func newSLACmd(g *globalFlags) *cobra.Command {
	var output, image, targets string
	var weeks int
	cmd := &cobra.Command{
		Use:   "sla",
		Short: "Patch SLAs: how long fixes took to reach a published version; open breaches",
		Long: `Measure patch SLAs over the catalog's history.

For every vulnerability finding with a fix that a published version of a release line has had: when
the fix became available (the first time a rebuild cycle saw its fixed version in a repository index,
else the advisory's publication date, else when the finding was first recorded), when the first
version of the line without it was published, and whether that was within the target of its severity
(--target, default critical=7d,high=14d,medium=30d; severities without a target are not measured).

The table lists the open breaches (findings past their target with no fixed version published yet, most
overdue first), time to remediation per severity and per image (median and maximum), and a weekly trend
(fixes available, remediated, late, open and breached at the week's end). -o json gives every finding
with its clock, as the API serves it.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output, plainFormats()); err != nil {
				return err
			}
			tg, err := rebuild.ParseTargets(targets)
			if err != nil {
				return usageError{err}
			}
			if weeks < 1 {
				return usageErrorf("--weeks must be at least 1")
			}
			if image != "" {
				if err := catalog.ValidName(image); err != nil {
					return err
				}
			}
			return g.withCatalog(cmd.Context(), func(c catalog.Catalog) error {
				rep, err := rebuild.SLA(cmd.Context(), c, rebuild.SLAOptions{Targets: tg, Image: image, Weeks: weeks})
				if err != nil {
					return err
				}
				if output == "json" {
					return writeJSON(cmd.OutOrStdout(), rep)
				}
				return writeSLA(cmd.OutOrStdout(), rep)
			})
		},
	}
	cmd.Flags().StringVar(&image, "image", "", "only this image")
	cmd.Flags().StringVar(&targets, "target", "", "targets per severity over the defaults, e.g. critical=3d,high=7d,medium=none")
	cmd.Flags().IntVar(&weeks, "weeks", 12, "weeks of trend")
	addOutputFlag(cmd, &output)
	return cmd
}

func writeSLA(w io.Writer, rep *rebuild.SLAReport) error {
	fmt.Fprintf(w, "patch SLA on %s (targets %s): %d finding(s) with a fix, %d open breach(es)\n", stamp(rep.Generated), rep.Targets, len(rep.Findings), len(rep.Breaches))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if len(rep.Breaches) > 0 {
		fmt.Fprintln(tw, "\nOPEN BREACH\tSEVERITY\tPACKAGE\tFIXED IN\tFIX AVAILABLE\tDUE\tOVERDUE\tEXPOSED")
		for _, b := range rep.Breaches {
			fmt.Fprintf(tw, "%s %s@%s\t%s\t%s %s\t%s\t%s (%s)\t%s\t%s\t%s\n", b.ID, b.Image, b.Line, b.Severity, b.Package, b.Installed, b.FixedVersion,
				stamp(b.FixAvailable), b.FixSource, stamp(b.Due), hours(rep.Generated.Sub(b.Due).Hours()), b.Exposed[len(b.Exposed)-1])
		}
	}
	for _, sec := range []struct {
		title string
		stats []rebuild.SLAStats
	}{{"SEVERITY", rep.BySeverity}, {"IMAGE", rep.ByImage}} {
		if len(sec.stats) == 0 {
			continue
		}
		fmt.Fprintf(tw, "\n%s\tFINDINGS\tOPEN\tOPEN BREACHES\tREMEDIATED\tWITHIN TARGET\tMEDIAN TIME\tMAX TIME\n", sec.title)
		for _, s := range sec.stats {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", s.Key, s.Findings, s.Open, s.OpenBreaches, s.Remediated, s.WithinTarget,
				hoursOrDash(s.MedianHours, s.Remediated), hoursOrDash(s.MaxHours, s.Remediated))
		}
	}
	if len(rep.Trend) > 0 {
		fmt.Fprintln(tw, "\nWEEK\tFIXES\tREMEDIATED\tLATE\tMEDIAN TIME\tOPEN AT END\tBREACHED")
		for _, wk := range rep.Trend {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%d\t%d\n", wk.Week.Format(time.DateOnly), wk.Fixes, wk.Remediated, wk.Late,
				hoursOrDash(wk.MedianHours, wk.Remediated), wk.OpenAtEnd, wk.Breached)
		}
	}
	return tw.Flush()
}

// hours writes a duration in hours as days and hours.
func hours(h float64) string {
	d := time.Duration(h * float64(time.Hour)).Round(time.Hour)
	if d >= 24*time.Hour {
		return fmt.Sprintf("%dd%dh", d/(24*time.Hour), (d%(24*time.Hour))/time.Hour)
	}
	return fmt.Sprintf("%dh", d/time.Hour)
}

func hoursOrDash(h float64, n int) string {
	if n == 0 {
		return "-"
	}
	return hours(h)
}
