package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ingot-build/ingot/internal/selfid"
)

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print ingot's version",
		Long: `Print ingot's version, the VCS revision it was built from and the Go toolchain.

The version on the first line is the one ingot writes into every document that names it: the SBOMs'
creator, the vulnerability predicate's scanner and the provenance's builder. A release installed with
go install reports its tag; a source build reports its module pseudo-version, or "devel" and the
revision ("+dirty" when the tree had changes); packagers may set it at link time.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprint(cmd.OutOrStdout(), versionText())
			return err
		},
	}
}

// versionText is what ingot version and ingot --version print.
func versionText() string {
	b := selfid.Info()
	var s strings.Builder
	fmt.Fprintf(&s, "ingot %s\n", b.Version)
	if b.Revision != "" {
		modified := ""
		if b.Modified {
			modified = " (modified)"
		}
		fmt.Fprintf(&s, "revision: %s%s\n", b.Revision, modified)
	}
	fmt.Fprintf(&s, "go: %s\n", b.Go)
	return s.String()
}
