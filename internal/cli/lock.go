package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/ingot-build/ingot/pkg/lock"
	"github.com/ingot-build/ingot/pkg/pipeline"
	"github.com/ingot-build/ingot/pkg/spec"
)

type lockFlags struct {
	update bool
	output string
}

func newLockCmd(g *globalFlags) *cobra.Command {
	f := &lockFlags{}
	cmd := &cobra.Command{
		Use:   "lock [SPEC]",
		Short: "Resolve a spec's packages from its verified repositories into ingot.lock",
		Long: `Resolve a spec's packages from its verified repositories into ingot.lock.

SPEC is an ingot.yaml file or a directory holding one (default: the current directory).
The lock pins every package by sha256, with the repository Release and index digests and the base image
digest. An existing lock that still matches the spec is kept; --update resolves again.`,
		Args: usageArgs(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, specPath, err := loadSpec(args)
			if err != nil {
				return err
			}
			env, err := g.writeEnv(cmd)
			if err != nil {
				return err
			}
			lockPath := f.output
			if lockPath == "" {
				lockPath = defaultLockPath(specPath)
			}
			if !f.update {
				if l, err := lock.Read(lockPath); err == nil && l.Check(s) == nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "%s is up to date (use --update to resolve again)\n", lockPath)
					return nil
				}
			}
			l, err := pipeline.Lock(cmd.Context(), s, pipelineOptions(env, g, cmd))
			if err != nil {
				return err
			}
			if err := l.Write(lockPath); err != nil {
				return err
			}
			for _, a := range s.Archs {
				fmt.Fprintf(cmd.ErrOrStderr(), "locked %d packages for %s (%d excluded) in %s\n", len(l.Archs[a].Packages), a, len(l.Archs[a].Excluded), lockPath)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&f.update, "update", false, "resolve again even if the lock matches the spec")
	cmd.Flags().StringVarP(&f.output, "lockfile", "l", "", "lock file (default: ingot.lock beside the spec)")
	return cmd
}

// loadSpec reads the spec named by args: a file, a directory holding ingot.yaml, or ./ingot.yaml.
func loadSpec(args []string) (*spec.Spec, string, error) {
	p := "ingot.yaml"
	if len(args) == 1 {
		p = args[0]
	}
	if fi, err := os.Stat(p); err == nil && fi.IsDir() {
		p = filepath.Join(p, "ingot.yaml")
	}
	s, err := spec.Load(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, "", usageErrorf("no spec at %s", p)
	}
	return s, p, err
}

func defaultLockPath(specPath string) string {
	return filepath.Join(filepath.Dir(specPath), "ingot.lock")
}

func pipelineOptions(env Env, g *globalFlags, cmd *cobra.Command) pipeline.Options {
	return pipeline.Options{
		DataDir:         env.DataDir,
		Progress:        g.progress(cmd),
		AptSources:      env.AptSources,
		SourceDateEpoch: env.SourceDateEpoch,
	}
}
