package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ingot-build/ingot/pkg/store"
)

type fsckFlags struct {
	repair bool
	output string
}

func newFsckCmd(g *globalFlags) *cobra.Command {
	f := &fsckFlags{}
	cmd := &cobra.Command{
		Use:   "fsck",
		Short: "Check the data directory: every blob, cache entry, evidence document and index",
		Long: `Check the data directory: every blob, cache entry, evidence document and index.

Every image of every OCI layout is walked from index.json: each blob it references must be there and
hash to its digest, and each manifest must parse. The package, index and signature caches are hashed
again; cached index texts must hash to their headers, and the parsed indexes earlier ingots kept are
stale; inventory and build cache entries must parse and point at something; evidence documents must
parse as JSON; the vulnerability database's index files must open. Temporary files of killed runs are
reported too.

--repair removes what can be fetched or computed again (damaged or stale cache entries, temporary
files, build-cache entries of images no longer stored) and replaces a damaged layout blob with a
verified copy of the same digest from another layout (images share layers). What it cannot repair it
says how to: ingot build of the image's spec writes damaged blobs again.

Exit code 0 when the directory is clean or fully repaired, 1 when damage remains. -o table or json.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(f.output, plainFormats()); err != nil {
				return err
			}
			env, err := g.env()
			if err != nil {
				return err
			}
			r, err := env.Store().Fsck(cmd.Context(), store.FsckOptions{Repair: f.repair})
			if err != nil {
				return err
			}
			if err := writeFsck(cmd.OutOrStdout(), f.output, r); err != nil {
				return err
			}
			return r.Err()
		},
	}
	cmd.Flags().BoolVar(&f.repair, "repair", false, "remove what can be fetched or computed again, copy damaged blobs from other layouts")
	cmd.Flags().StringVarP(&f.output, "output", "o", "table", "output format: "+oneOf(plainFormats()))
	return cmd
}

func writeFsck(w io.Writer, format string, r *store.FsckReport) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	if len(r.Problems) == 0 {
		_, err := fmt.Fprintf(w, "%s: no problems found\n", r.Root)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tPATH\tPROBLEM\tREPAIR")
	for _, p := range r.Problems {
		action := p.Action
		if action == "" {
			action = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Kind, p.Path, p.Detail, action)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d problem(s), %d repaired, %d remain\n", len(r.Problems), len(r.Problems)-r.Remaining(), r.Remaining())
	return err
}
