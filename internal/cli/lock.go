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
	update    bool
	output    string
	allowFrom []string
}

func newLockCmd(g *globalFlags) *cobra.Command {
	f := &lockFlags{}
	cmd := &cobra.Command{
		Use:   "lock [SPEC]",
		Short: "Resolve a spec's packages from its verified repositories into ingot.lock",
		Long: `Resolve a spec's packages from its verified repositories into ingot.lock.

SPEC is an ingot.yaml file or a directory holding one (default: the current directory).
The lock pins every package by sha256, with the repository Release and index digests and the base image
digest. An existing lock that still matches the spec is kept; --update resolves again.

Each Packages index is parsed as it downloads and kept parsed in the data directory by its sha256, so
another lock against the same repository state (another spec, or --update) reads no index at all.

` + localFilesHelp + `

A spec that fails validation, or names a local file outside those directories, is refused (exit 2)
before anything is fetched or written.`,
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
			opt := pipelineOptions(env, g, cmd, f.allowFrom)
			// Checked here too, not only in pipeline.Lock: an up-to-date lock is no reason to accept
			// a spec that a build would refuse.
			if err := pipeline.Check(s, opt); err != nil {
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
			l, err := pipeline.Lock(cmd.Context(), s, opt)
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
	addAllowFilesFlag(cmd, &f.allowFrom)
	return cmd
}

// localFilesHelp explains confinement in the help of the verbs that read a spec's local files.
const localFilesHelp = `Local files (files[].source, evidence.tests, evidence.vex) are relative to the spec's directory and
must lie inside it after every symlink is resolved, so that a spec cannot copy the building machine's
files into an image: "../../etc/shadow", "/etc/shadow", or a path through a symlink that leads out are
refused. --allow-files-from DIR (repeatable) allows one more directory; name files in it by absolute
path. Symlinks inside a copied directory are copied as links, never followed.`

func addAllowFilesFlag(cmd *cobra.Command, dirs *[]string) {
	cmd.Flags().StringArrayVar(dirs, "allow-files-from", nil, "also allow the spec's local files to lie in `DIR` (repeatable)")
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

func pipelineOptions(env Env, g *globalFlags, cmd *cobra.Command, allowFrom []string) pipeline.Options {
	return pipeline.Options{
		DataDir:         env.DataDir,
		Progress:        g.progress(cmd),
		AptSources:      env.AptSources,
		SourceDateEpoch: env.SourceDateEpoch,
		AllowFilesFrom:  allowFrom,
		Limits:          g.limits(),
	}
}
