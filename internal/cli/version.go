package cli

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Version is ingot's version, set at link time (-X); "devel" otherwise.
var Version = "devel"

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print ingot's version",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			gover := "unknown"
			if bi, ok := debug.ReadBuildInfo(); ok {
				gover = bi.GoVersion
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "ingot %s (%s)\n", Version, gover)
			return err
		},
	}
}
