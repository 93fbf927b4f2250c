package cli

import (
	"io"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// options shared by every command.
type globalFlags struct {
	dataDir string
	quiet   bool
}

// New returns the root command with every verb attached.
func New() *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:           "ingot",
		Short:         "A golden image factory: build, evidence, sign and catalog minimal OCI images",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.dataDir, "data-dir", "", "data directory (default $INGOT_DATA_DIR, else $XDG_DATA_HOME/ingot)")
	root.PersistentFlags().BoolVarP(&g.quiet, "quiet", "q", false, "no progress output")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(
		newLockCmd(g),
		newBuildCmd(g),
		newSbomCmd(g),
		newScanCmd(g),
		newLintCmd(g),
		newDBCmd(g),
		newSecretsCmd(g),
		newTestCmd(g),
		newSchemaCmd(),
		newVersionCmd(),
	)
	return root
}

// env reads the environment and applies the global flags over it.
func (g *globalFlags) env() (Env, error) {
	e, err := ReadEnv()
	if err != nil {
		return e, err
	}
	if g.dataDir != "" {
		e.DataDir = g.dataDir
	}
	return e, nil
}

// progress is where long work reports progress: stderr on a terminal, nowhere when piped or quiet.
func (g *globalFlags) progress(cmd *cobra.Command) io.Writer {
	if g.quiet {
		return nil
	}
	if f, ok := cmd.ErrOrStderr().(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return f
	}
	return nil
}
