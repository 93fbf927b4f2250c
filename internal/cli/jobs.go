package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ingot-build/ingot/pkg/rebuild"
)

func newJobsCmd(g *globalFlags) *cobra.Command {
	var output string
	var states, kinds []string
	var all bool
	var limit int
	cmd := &cobra.Command{
		Use:   "jobs",
		Short: "List rebuild jobs that failed (or every job), with their errors",
		Long: `List the jobs of the rebuild queue (beside the catalog: <data-dir>/jobs.db, or the catalog's PostgreSQL
database), newest first.

By default only the jobs that failed: retryable ones (an attempt failed; a worker runs it again after a
backoff) and discarded ones (every attempt failed: it will not run again until retried by hand), each
with its attempts and last error. --all lists every job; --state and --kind select (states: available,
scheduled, running, retryable, completed, discarded, cancelled, pending; kinds: ingot_cycle,
ingot_rebuild, ingot_rescan, ingot_deprecate, ingot_complete).`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output, plainFormats()); err != nil {
				return err
			}
			if all && len(states) > 0 {
				return usageErrorf("--all and --state select differently: give one")
			}
			onlyFailed := !all && len(states) == 0
			if onlyFailed {
				states = []string{rebuild.StateRetryable, rebuild.StateDiscarded}
			}
			env, err := g.env()
			if err != nil {
				return err
			}
			q, err := rebuild.OpenQueue(cmd.Context(), env.Store())
			if err != nil {
				return err
			}
			defer func() { _ = q.Close() }() // read only
			jobs, err := q.Jobs(cmd.Context(), rebuild.JobFilter{States: splitList(states), Kinds: splitList(kinds), Limit: limit})
			if err != nil {
				return usageError{err}
			}
			if output == "json" {
				if jobs == nil {
					jobs = []rebuild.Job{}
				}
				return writeJSON(cmd.OutOrStdout(), jobs)
			}
			return writeJobs(cmd.OutOrStdout(), jobs, onlyFailed)
		},
	}
	cmd.Flags().StringArrayVar(&states, "state", nil, "only jobs in this state (repeatable, or comma-separated)")
	cmd.Flags().StringArrayVar(&kinds, "kind", nil, "only jobs of this kind (repeatable, or comma-separated)")
	cmd.Flags().BoolVar(&all, "all", false, "every job, not only failed ones")
	cmd.Flags().IntVarP(&limit, "limit", "n", 100, "at most this many jobs")
	addOutputFlag(cmd, &output)
	return cmd
}

// splitList reads repeatable, comma-separated flag values.
func splitList(values []string) []string {
	var out []string
	for _, v := range values {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func writeJobs(w io.Writer, jobs []rebuild.Job, onlyFailed bool) error {
	if len(jobs) == 0 {
		what := "no jobs"
		if onlyFailed {
			what = "no failed jobs"
		}
		_, err := fmt.Fprintln(w, what)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tSTATE\tATTEMPT\tCREATED\tARGS\tERROR")
	for _, j := range jobs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d/%d\t%s\t%s\t%s\n", j.ID, j.Kind, j.State, j.Attempt, j.MaxAttempts, stamp(j.Created),
			argsSummary(j), orDash(firstLine(j.LastError())))
	}
	return tw.Flush()
}

// argsSummary is what a job is about, briefly: a rebuild's image and reason.
func argsSummary(j rebuild.Job) string {
	var a rebuild.RebuildArgs
	if j.Kind == rebuild.KindRebuild && decodeJSON(j.Args, &a) == nil {
		s := a.Image
		if a.Reason != "" {
			s += ": " + a.Reason
		}
		if len(s) > 80 {
			s = s[:77] + "..."
		}
		return s
	}
	return "-"
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// decodeJSON reads a job's JSON (its args or output) into v, refusing nothing ingot itself wrote.
func decodeJSON(data []byte, v any) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return fmt.Errorf("empty")
	}
	return json.Unmarshal(data, v)
}
