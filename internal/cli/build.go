package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/ingot-build/ingot/pkg/lock"
	"github.com/ingot-build/ingot/pkg/pipeline"
	"github.com/ingot-build/ingot/pkg/publish"
	"github.com/ingot-build/ingot/pkg/sign"
)

type buildFlags struct {
	lockfile string
	push     string
	tarball  string
	insecure bool
	// sign and key: sign the pushed image and attest its evidence.
	sign       bool
	key        keyFlags
	signFormat string
	allowFrom  []string
}

func newBuildCmd(g *globalFlags) *cobra.Command {
	f := &buildFlags{}
	cmd := &cobra.Command{
		Use:   "build [SPEC]",
		Short: "Build a reproducible image from a spec and its lock",
		Long: `Build a reproducible image from a spec and its lock.

The image goes to an OCI layout under the data directory (<data-dir>/oci/<name>, tagged with the spec's
version), and also to a registry with --push REPOSITORY[:TAG] (tagged with the spec's version when REF
names no tag) and to a docker-load archive with --tarball. Without a lock the spec is locked first; a
lock that no longer matches the spec is refused. Standard output carries only the image's digest (for
several archs, the index's); what was written, pushed and signed is reported on standard error, with a
line per platform and its digest.

With --sign --key KEY --push REF, the pushed image is signed (legacy and bundle formats) and every piece
of its evidence is attached as a signed attestation: SLSA provenance, SPDX and CycloneDX SBOMs, the
vulnerability scan, hardening and test results. The command succeeds only when all of it is in the
registry; running it again after a failure completes the work without duplicating anything.

` + localFilesHelp + `

A spec that fails validation or names a local file outside those directories, a --push reference that
does not parse or names a digest, --key without --sign and a --tarball whose directory does not exist
are refused (exit 2) before anything is locked, fetched, built or written.`,
		Args: usageArgs(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			// Flags first: a --push or --tarball that cannot work is refused before the spec is read.
			if err := f.checkOutputs(); err != nil {
				return err
			}
			s, specPath, err := loadSpec(args)
			if err != nil {
				return err
			}
			env, err := g.writeEnv(cmd)
			if err != nil {
				return err
			}
			opt := pipelineOptions(env, g, cmd, f.allowFrom)
			if err := pipeline.Check(s, opt); err != nil {
				return err
			}
			var signer sign.Signer
			var signOpts sign.Options
			if f.sign {
				if f.push == "" {
					return usageErrorf("--sign signs what --push publishes: give --push REF")
				}
				fm, err := sign.ParseFormat(f.signFormat)
				if err != nil {
					return usageError{err}
				}
				ro, err := g.remote(cmd)
				if err != nil {
					return err
				}
				signOpts = sign.Options{Formats: fm, RemoteOptions: ro}
				// The key is loaded before the build, so a wrong password fails at once.
				if signer, err = f.key.loadSigner(g, cmd); err != nil {
					return err
				}
			}
			lockPath := f.lockfile
			if lockPath == "" {
				lockPath = defaultLockPath(specPath)
			}
			l, err := lock.Read(lockPath)
			if errors.Is(err, os.ErrNotExist) {
				if l, err = pipeline.Lock(cmd.Context(), s, opt); err != nil {
					return err
				}
				if err = l.Write(lockPath); err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s\n", lockPath)
			}
			if err != nil {
				return err
			}
			opt.SpecFile, opt.LockFile = specPath, lockPath
			res, err := pipeline.Build(cmd.Context(), s, l, opt)
			if err != nil {
				return err
			}
			if !g.quiet {
				for _, n := range res.Notes {
					fmt.Fprintf(cmd.ErrOrStderr(), "note: %s\n", n)
				}
				if err := printPlatforms(cmd.ErrOrStderr(), res); err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "%s:%s stored in %s\n", s.Name, res.Tag, res.Layout)
			}
			if f.tarball != "" {
				if err := publish.WriteTarball(f.tarball, s.Name+":"+res.Tag, res.Artifact); err != nil {
					return err
				}
			}
			if f.push != "" {
				ref, err := publish.Push(cmd.Context(), f.push, res.Artifact, publish.PushOptions{Insecure: f.insecure, Transport: g.transport, Tag: res.Tag})
				if err != nil {
					return err
				}
				if !g.quiet {
					fmt.Fprintf(cmd.ErrOrStderr(), "pushed %s\n", ref)
				}
				if signer != nil {
					if err := signAndAttest(cmd.Context(), cmd.ErrOrStderr(), opt, ref, signer, signOpts); err != nil {
						return err
					}
				}
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), res.Digest)
			return err
		},
	}
	cmd.Flags().StringVarP(&f.lockfile, "lockfile", "l", "", "lock file (default: ingot.lock beside the spec)")
	cmd.Flags().StringVar(&f.push, "push", "", "also push the image to this registry `REPOSITORY[:TAG]` (default tag: the spec's version)")
	cmd.Flags().StringVar(&f.tarball, "tarball", "", "also write a docker-load archive to this file")
	cmd.Flags().BoolVar(&f.insecure, "insecure", false, "allow plain HTTP to a non-loopback registry")
	cmd.Flags().BoolVar(&f.sign, "sign", false, "sign the pushed image and attest its evidence (needs --push and --key)")
	f.key.add(cmd, "private key for --sign (cosign format)")
	cmd.Flags().StringVar(&f.signFormat, "sign-format", "both", "signature format for --sign: "+signFormatHelp())
	addAllowFilesFlag(cmd, &f.allowFrom)
	return cmd
}

// checkOutputs refuses, before anything is built, a --key without --sign, a --push reference that does
// not parse or names a digest, and a --tarball that cannot be written where it is asked for.
func (f *buildFlags) checkOutputs() error {
	if (f.key.key != "" || f.key.passwordFile != "") && !f.sign {
		return usageErrorf("--key and --key-password-file need --sign: ingot build signs only when asked (--sign --key KEY --push REF)")
	}
	if f.push != "" {
		if _, err := publish.PushReference(f.push, "", f.insecure); errors.Is(err, publish.ErrPushDigest) {
			return usageErrorf("--push %q names a digest: give REPOSITORY or REPOSITORY:TAG (without a tag, the spec's version is the tag); the digest is the image's own", f.push)
		} else if err != nil {
			return usageErrorf("--push %q is not an image reference: %v", f.push, err)
		}
	}
	if f.tarball != "" {
		dir := filepath.Dir(f.tarball)
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return usageErrorf("--tarball %s: the directory %s does not exist", f.tarball, dir)
		}
		if fi, err := os.Stat(f.tarball); err == nil && fi.IsDir() {
			return usageErrorf("--tarball %s is a directory", f.tarball)
		}
	}
	return nil
}

// printPlatforms writes a line per platform image of a build, with its digest and its evidence
// summary ("linux/amd64 sha256:...: 4 packages, ..."; "cached (4 packages, ...)" when nothing was
// built): for an index, stdout has the index digest only, and this is where each platform's digest
// is said.
func printPlatforms(w io.Writer, res *pipeline.Result) error {
	platforms, err := res.Artifact.Platforms()
	if err != nil {
		return err
	}
	summary := map[string]string{}
	for _, ev := range res.Evidence {
		summary[ev.Inventory.Image.Digest] = ev.Summary()
	}
	for _, p := range platforms {
		s := summary[p.Digest.String()]
		if res.Cached {
			s = "cached (" + s + ")"
		}
		if _, err := fmt.Fprintf(w, "%s %s: %s\n", p.Platform, p.Digest, s); err != nil {
			return err
		}
	}
	return nil
}
