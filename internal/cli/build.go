package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
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

// sharedCatalogSettle is how old a pending version of a catalog other machines may share must be
// before a build completes or abandons it (see pipeline.PublishOptions.Settle).
const sharedCatalogSettle = 15 * time.Minute

func newBuildCmd(g *globalFlags) *cobra.Command {
	f := &buildFlags{}
	cmd := &cobra.Command{
		Use:   "build [SPEC]",
		Short: "Build a reproducible image from a spec and its lock, and record it in the catalog",
		Long: `Build a reproducible image from a spec and its lock, and record it in the catalog.

Every build is recorded in the catalog (<data-dir>/catalog.db): the spec's version is a release line,
and each build that gives a new digest is a new version of it, with an immutable tag <line>-r<serial>
(1.2.3-r4; "latest-r4" when the spec has no version). The image goes to an OCI layout under the data
directory (<data-dir>/oci/<name>) under that tag, which stays, and under the moving tags <line> and
latest, which follow the newest active version. With --push REPOSITORY[:TAG] it also goes to a
registry, under the same tags (and TAG, moving with the line, when REF names one), and with --tarball
to a docker-load archive. A build that gives a digest already recorded publishes nothing. Without a
lock the spec is locked first; a lock that no longer matches the spec is refused. Standard output
carries only the image's digest (for several archs, the index's); what was written, pushed, signed and
recorded is reported on standard error, with a line per platform and its digest.

With --sign --key KEY --push REF, the pushed image is signed (legacy and bundle formats) and every piece
of its evidence is attached as a signed attestation: SLSA provenance, SPDX and CycloneDX SBOMs, the
vulnerability scan, hardening and test results; then all of it is verified with the key. The version
is recorded as pending before anything is pushed and marked published only once everything is in place
and verifies, so an interrupted build never leaves a published version without its signatures. Each
build first completes the versions interrupted builds left pending (a pushed one only when it can
sign), and running the same build again completes its own, without duplicating anything.
--key-password-file FILE gives the key's password without a terminal.

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
			if s.VM != nil {
				return usageErrorf("%s has a vm section: it is a VM image, built by ingot host build", specPath)
			}
			env, err := g.writeEnv(cmd)
			if err != nil {
				return err
			}
			opt := pipeline.PublishOptions{
				Options:  pipelineOptions(env, g, cmd, f.allowFrom),
				Push:     f.push,
				Registry: publish.PushOptions{Insecure: f.insecure, Transport: g.transport},
			}
			if !g.quiet {
				opt.Log = cmd.ErrOrStderr()
			}
			if err := pipeline.Check(s, opt.Options); err != nil {
				return err
			}
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
				opt.Sign = sign.Options{Formats: fm, RemoteOptions: ro}
				// The key is loaded before the build, so a wrong password fails at once.
				if opt.Signer, err = f.key.loadSigner(g, cmd); err != nil {
					return err
				}
			}
			lockPath := f.lockfile
			if lockPath == "" {
				lockPath = defaultLockPath(specPath)
			}
			l, err := lock.Read(lockPath)
			if errors.Is(err, os.ErrNotExist) {
				if l, err = pipeline.Lock(cmd.Context(), s, opt.Options); err != nil {
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
			cat, err := env.Store().Catalog(cmd.Context())
			if err != nil {
				return err
			}
			defer func() { _ = cat.Close() }() // read and written through: closing loses nothing
			opt.Catalog = cat
			if env.Catalog != "" {
				// A database other machines may share: leave their recent pending versions alone.
				opt.Settle = sharedCatalogSettle
			}
			// Versions an interrupted build left pending are completed first; failing to complete one
			// does not stop this build.
			if _, err := pipeline.CompletePending(cmd.Context(), opt); err != nil && !g.quiet {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: %v\n", err)
			}
			v, err := pipeline.Publish(cmd.Context(), s, l, opt)
			if err != nil {
				return err
			}
			if f.tarball != "" {
				d, err := v1.NewHash(v.Digest)
				if err != nil {
					return err
				}
				art, err := env.Store().Layouts().ReadDigest(v.Image, d)
				if err != nil {
					return err
				}
				if err := publish.WriteTarball(f.tarball, s.Name+":"+s.Tag(), art); err != nil {
					return err
				}
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), v.Digest)
			return err
		},
	}
	cmd.Flags().StringVarP(&f.lockfile, "lockfile", "l", "", "lock file (default: ingot.lock beside the spec)")
	cmd.Flags().StringVar(&f.push, "push", "", "also push the image to this registry `REPOSITORY[:TAG]` (tags: <line>-r<serial>, <line>, latest, and TAG)")
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
