package cli

import (
	"io"
	"net/http"
	"os"
	"strings"
	"sync"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/ingot-build/ingot/pkg/imageref"
)

// options shared by every command.
type globalFlags struct {
	dataDir string
	// catalog is --catalog: the catalog's database, over INGOT_CATALOG.
	catalog string
	quiet   bool
	// maxImageSize bounds how much one image's layers may decompress to in the evidence stages.
	maxImageSize byteSize
	// transport carries registry requests; nil means a fresh default transport. Tests set it (to hold
	// commands to loopback); there is no flag for it.
	transport http.RoundTripper
	// swept makes the data directory's sweep run once per run (see sweep).
	swept sync.Once
}

// New returns the root command with every verb attached.
func New() *cobra.Command {
	return newRoot(&globalFlags{})
}

// newRoot builds the command tree over g, which tests preset (with a transport that refuses to leave
// loopback, for one).
func newRoot(g *globalFlags) *cobra.Command {
	root := &cobra.Command{
		Use:           "ingot",
		Short:         "A golden image factory: build, evidence, sign and catalog minimal OCI images",
		SilenceUsage:  true,
		SilenceErrors: true,
		Long: `A golden image factory: build, evidence, sign and catalog minimal OCI images.

What ingot keeps (the catalog, image layouts, caches, evidence, vulnerability data) is in the data directory
(--data-dir). A command that writes there first removes the temporary files of runs that were killed.`,
	}
	root.PersistentFlags().StringVar(&g.dataDir, "data-dir", "", "data directory (default $INGOT_DATA_DIR, else $XDG_DATA_HOME/ingot)")
	root.PersistentFlags().StringVar(&g.catalog, "catalog", "", "the catalog's database: postgres://… for PostgreSQL (default $INGOT_CATALOG, else SQLite in the data directory)")
	root.PersistentFlags().BoolVarP(&g.quiet, "quiet", "q", false, "no progress output")
	g.maxImageSize = byteSize(imageref.DefaultMaxImageBytes)
	root.PersistentFlags().Var(&g.maxImageSize, "max-image-size", "refuse an image whose layers decompress to more than this in the evidence stages (e.g. 2GiB)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	// --version prints what ingot version does; declared here so that cobra does not take -v for it.
	root.Version = strings.TrimSuffix(versionText(), "\n")
	root.SetVersionTemplate("{{.Version}}\n")
	root.Flags().Bool("version", false, "print ingot's version (as ingot version does)")
	root.AddCommand(
		newLockCmd(g),
		newBuildCmd(g),
		newSbomCmd(g),
		newScanCmd(g),
		newLintCmd(g),
		newDBCmd(g),
		newSecretsCmd(g),
		newTestCmd(g),
		newKeyCmd(g),
		newSignCmd(g),
		newAttestCmd(g),
		newVerifyCmd(g),
		newCopyCmd(g),
		newAdmissionCmd(g),
		newPolicyCmd(g),
		newFsckCmd(g),
		newCatalogCmd(g),
		newWorkerCmd(g),
		newJobsCmd(g),
		newSLACmd(g),
		newServeCmd(g),
		newTokenCmd(g),
		newSchemaCmd(),
		newVersionCmd(),
	)
	return root
}

// limits are what reading one image's layers may cost.
func (g *globalFlags) limits() imageref.Limits {
	return imageref.Limits{MaxImageBytes: int64(g.maxImageSize)}
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
	if g.catalog != "" {
		e.Catalog = g.catalog
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
