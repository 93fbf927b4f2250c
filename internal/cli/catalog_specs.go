package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ingot-build/ingot/pkg/catalog"
)

func newCatalogAddCmd(g *globalFlags) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "add SPEC_DIR",
		Short: "Register a spec for continuous rebuild: its bytes, the files it names and its lock",
		Long: `Register a spec for continuous rebuild, under its image name (replacing an earlier registration).

SPEC_DIR is a directory holding ingot.yaml, or the spec file itself. The catalog stores the spec's
bytes, a tar of the local files it names (files[].source, evidence.tests, evidence.vex) and the lock
beside it (ingot.lock) if there is one, so a rebuild on another machine builds exactly what was
registered. The files must lie inside the spec's directory: one that resolves outside, through ".."
or a symlink, is refused, as ingot build refuses it; so is one that does not exist.`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, plainFormats()); err != nil {
				return err
			}
			s, specPath, err := loadSpec(args)
			if err != nil {
				return err
			}
			local, err := s.Local()
			if err != nil {
				return err
			}
			if err := local.CheckExist(); err != nil {
				return err
			}
			files, err := local.Archive()
			if err != nil {
				return err
			}
			if len(local.Files)+len(local.VEX) == 0 && local.Tests == nil {
				files = nil
			}
			specBytes, err := os.ReadFile(specPath)
			if err != nil {
				return err
			}
			lockBytes, err := os.ReadFile(defaultLockPath(specPath))
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			rs := catalog.RegisteredSpec{Name: s.Name, Spec: specBytes, Files: files, Lock: lockBytes, Added: time.Now()}
			return g.withCatalog(cmd.Context(), func(c catalog.Catalog) error {
				rs, err := c.AddSpec(cmd.Context(), rs)
				if err != nil {
					return err
				}
				if output == "json" {
					return writeJSON(cmd.OutOrStdout(), rs)
				}
				lock := "no lock"
				if rs.Lock != nil {
					lock = "its lock"
				}
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "registered %s (spec %s, %d bytes of files, %s)\n", rs.Name, rs.Digest[:12], len(rs.Files), lock)
				return err
			})
		},
	}
	addOutputFlag(cmd, &output)
	return cmd
}

func newCatalogRmCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rm IMAGE",
		Short: "Stop rebuilding an image (its versions stay in the catalog)",
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := catalog.ValidName(args[0]); err != nil {
				return err
			}
			return g.withCatalog(cmd.Context(), func(c catalog.Catalog) error {
				if err := c.RemoveSpec(cmd.Context(), args[0]); err != nil {
					return err
				}
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "%s is no longer rebuilt; its versions stay in the catalog\n", args[0])
				return err
			})
		},
	}
	return cmd
}

func newCatalogSpecsCmd(g *globalFlags) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "specs",
		Short: "List the specs registered for continuous rebuild",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output, plainFormats()); err != nil {
				return err
			}
			return g.withCatalog(cmd.Context(), func(c catalog.Catalog) error {
				specs, err := c.ListSpecs(cmd.Context())
				if err != nil {
					return err
				}
				if output == "json" {
					return writeJSON(cmd.OutOrStdout(), specs)
				}
				return writeSpecs(cmd.OutOrStdout(), specs)
			})
		},
	}
	addOutputFlag(cmd, &output)
	return cmd
}

func writeSpecs(w io.Writer, specs []catalog.RegisteredSpec) error {
	if len(specs) == 0 {
		_, err := fmt.Fprintln(w, "no specs registered (ingot catalog add SPEC_DIR)")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tDIGEST\tADDED\tFILES\tLOCK")
	for _, s := range specs {
		lock := "no"
		if s.Lock != nil {
			lock = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d bytes\t%s\n", s.Name, s.Digest[:12], stamp(s.Added), len(s.Files), lock)
	}
	return tw.Flush()
}
