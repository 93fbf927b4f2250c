package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ingot-build/ingot/pkg/sbom"
)

// sweep removes what killed runs left in the data directory: temporary files and directories whose
// owner process is gone (store.Sweep). Every command that writes to the data directory sweeps before
// its first write, once per run however many writers it goes through (build --sign locks, builds,
// records evidence and fills the signature cache).
//
// The sweep lives here and not in the library entry points (pipeline.Build, sign.Verify) because it
// is per process, not per call: attest collects evidence once per platform, build may lock and then
// build, and a program embedding the library decides itself when to tidy its data directory.
//
// It reads every directory that can hold temporary files, content-addressed ones included, which
// costs about a microsecond per entry: 0.1 ms on a fresh data directory, 5 ms with a few thousand
// blobs and packages. Commands whose only writes are caches (sbom, scan, sign, verify, copy) therefore
// sweep through the caches' write hooks, when they first write, and not at all when served from the
// cache; the others (lock, build, attest, db import and update) sweep before they start.
//
// A failed sweep does not fail the command, whose own writes do not depend on it: it is reported on
// stderr unless -q.
func (g *globalFlags) sweep(cmd *cobra.Command, env Env) {
	g.swept.Do(func() {
		if _, err := env.Store().Sweep(); err != nil && !g.quiet {
			fmt.Fprintf(cmd.ErrOrStderr(), "warning: cleaning up after earlier runs: %v\n", err)
		}
	})
}

// writeEnv is env for a command that writes to the data directory: it sweeps first.
func (g *globalFlags) writeEnv(cmd *cobra.Command) (Env, error) {
	env, err := g.env()
	if err != nil {
		return env, err
	}
	g.sweep(cmd, env)
	return env, nil
}

// inventories is the data directory's inventory cache, swept before it is first written to.
func (g *globalFlags) inventories(cmd *cobra.Command, env Env) sbom.Cache {
	c := env.Store().Inventories()
	c.BeforeWrite = func() { g.sweep(cmd, env) }
	layers := env.Store().LayerAnalyses()
	layers.BeforeWrite = c.BeforeWrite
	c.Layers = layers
	return c
}
