package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/ingot-build/ingot/pkg/apt"
	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/host"
	"github.com/ingot-build/ingot/pkg/lock"
	"github.com/ingot-build/ingot/pkg/pipeline"
	"github.com/ingot-build/ingot/pkg/report"
	"github.com/ingot-build/ingot/pkg/spec"
	"github.com/ingot-build/ingot/pkg/vmimage"
	"github.com/ingot-build/ingot/pkg/vmrecord"
)

type hostBuildFlags struct {
	lockfile  string
	allowFrom []string
	// The audit gate's settings, as ingot host audit takes them.
	audit   hostAuditFlags
	noAudit bool
	grace   time.Duration
}

func newHostBuildCmd(g *globalFlags) *cobra.Command {
	f := &hostBuildFlags{}
	cmd := &cobra.Command{
		Use:   "build [SPEC]",
		Short: "Build a bootable VM disk (raw and qcow2) from a spec with a vm section",
		Long: `Build a bootable VM disk (raw and qcow2) from a spec with a vm section.

SPEC is an ingot.yaml file or a directory holding one (default: the current directory). Its packages
are the whole system (Debian's Essential packages, systemd, the kernel named by vm.kernel, and
systemd-boot-efi): ingot adds nothing. They come from the lock only (without a lock the spec is locked
first; a stale lock is refused): ingot writes a local mirror of them from its verified package cache,
keeping the repositories' signed InRelease and Packages index, and mmdebstrap (root mode, custom
variant) installs exactly those versions with their maintainer scripts.

The spec's vm.hardening is written into the tree (an sshd_config.d drop-in read before all others, a
sysctl.d file, units disabled and masked), and the first-boot cleanup applied: /etc/machine-id is
empty, SSH host keys, logs, caches and temporary files are removed, and a unit generates the host keys
at the first boot and prints "` + vmimage.FirstBootMarker + `" on the console.

The disk is GPT: an EFI System Partition with systemd-boot as EFI/BOOT/BOOTX64.EFI, the kernel, the
initrd and a loader entry (console=ttyS0), and an ext4 root. Nothing is mounted and no loop device is
used (mkfs.ext4 -d, mkfs.vfat and mtools, the partition table written by ingot). GUIDs and UUIDs are
derived from the name and version, and every timestamp is clamped to SOURCE_DATE_EPOCH (default: the
newest Release date in the lock), so a rebuild gives the same disk where the packages' scripts allow it;
vm.json records the digest of each part and rootfs.json every file, to say where two builds differ.

The disks go to <data-dir>/vm/<name>/<version>/ (disk.raw, sparse, and disk.qcow2 by qemu-img), and
vm.json with rootfs.json to the evidence directory named by the raw disk's digest. Standard output
carries the raw disk's digest. Needs root, mmdebstrap, mkfs.ext4, debugfs, mkfs.vfat, mtools and
qemu-img. A spec without a vm section is refused (exit 2).`,
		Args: usageArgs(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, specPath, err := loadSpec(args)
			if err != nil {
				return err
			}
			if s.VM == nil {
				return vmimage.ErrNotVM
			}
			env, err := g.writeEnv(cmd)
			if err != nil {
				return err
			}
			popt := pipelineOptions(env, g, cmd, f.allowFrom)
			if err := pipeline.Check(s, popt); err != nil {
				return err
			}
			lockPath := f.lockfile
			if lockPath == "" {
				lockPath = defaultLockPath(specPath)
			}
			l, err := lock.Read(lockPath)
			if errors.Is(err, os.ErrNotExist) {
				if l, err = pipeline.Lock(cmd.Context(), s, popt); err != nil {
					return err
				}
				if err = l.Write(lockPath); err != nil {
					return err
				}
			}
			if err != nil {
				return err
			}
			opt := vmimage.Options{Pipeline: popt}
			var gate *host.BuildGate
			if !f.noAudit {
				if gate, err = f.gate(env); err != nil {
					return err
				}
				opt.Gate = gate.Run
			}
			if !g.quiet {
				opt.Log = cmd.ErrOrStderr()
			}
			res, err := vmimage.Build(cmd.Context(), s, l, opt)
			if err != nil {
				return err
			}
			w := cmd.ErrOrStderr()
			if !g.quiet {
				fmt.Fprintf(w, "wrote %s (%s, %d MiB allocated of %d MiB)\n", res.Raw.Path, res.Raw.Digest, res.Raw.Allocated>>20, res.Raw.Size>>20)
				fmt.Fprintf(w, "wrote %s (%s, %d MiB)\n", res.QCOW2.Path, res.QCOW2.Digest, res.QCOW2.Size>>20)
				fmt.Fprintf(w, "evidence in %s\n", res.Evidence)
				if res.Gate == nil {
					fmt.Fprintln(w, "no audit gate ran")
				} else {
					fmt.Fprintf(w, "audit gate passed: %s\n", res.Gate.Summary)
				}
			}
			if gate != nil {
				// The catalog records the version with its disks and the audit's evidence; without an
				// audit there is no evidence to record, and the disks stay only in the data directory.
				v, err := recordVM(cmd.Context(), env, s, specPath, lockPath, res, gate.Evidence(), f.grace)
				if err != nil {
					return err
				}
				if !g.quiet {
					fmt.Fprintf(w, "recorded %s (%s)\n", v.Ref(), v.Digest)
				}
			}
			fmt.Fprintln(cmd.OutOrStdout(), res.Raw.Digest)
			return nil
		},
	}
	cmd.Flags().StringVarP(&f.lockfile, "lockfile", "l", "", "lock file (default: ingot.lock beside the spec)")
	addAllowFilesFlag(cmd, &f.allowFrom)
	cmd.Flags().StringVar(&f.audit.profile, "profile", string(host.ProfileMinimal), "audit gate: rule profile: "+oneOf(hostProfiles()))
	cmd.Flags().StringArrayVar(&f.audit.waive, "waive", nil, "audit gate: accept a rule's failure: RULE=REASON (repeatable)")
	cmd.Flags().StringVar(&f.audit.policy, "policy", "", "audit gate: audit policy file (required agents and versions, forbidden packages)")
	cmd.Flags().StringVar(&f.audit.failOn, "fail-on", "high", "audit gate: refuse the image when a failed rule or an affecting vulnerability is at or above this level: "+oneOf(failOnLevels()))
	cmd.Flags().BoolVar(&f.noAudit, "no-audit", false, "skip the audit gate (the image is then not recorded in the catalog)")
	cmd.Flags().DurationVar(&f.grace, "grace", 24*time.Hour, "how long the previous active version of the release line stays active")
	return cmd
}

// gate is the audit gate the flags describe; the tree is scanned for vulnerabilities when the data
// directory has vulnerability data, as a container build's gate is.
func (f *hostBuildFlags) gate(env Env) (*host.BuildGate, error) {
	f.audit.output = report.FormatTable
	opt, threshold, err := f.audit.options()
	if err != nil {
		return nil, err
	}
	db := env.Store().VulnDB()
	if st, err := db.Status(); err == nil && len(st.Sources) > 0 {
		opt.VulnDB = db
	}
	return &host.BuildGate{Options: opt, Threshold: threshold}, nil
}

// recordVM records the built disks as a vm version of the catalog, with the audit's evidence and
// the spec and lock bytes it was built from.
func recordVM(ctx context.Context, env Env, s *spec.Spec, specPath, lockPath string, res *vmimage.Result, ev *evidence.Set, grace time.Duration) (*catalog.Version, error) {
	specBytes, err := os.ReadFile(specPath)
	if err != nil {
		return nil, err
	}
	lockBytes, err := os.ReadFile(lockPath)
	if err != nil {
		return nil, err
	}
	c, err := env.Store().Catalog(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = c.Close() }()
	return vmrecord.Record(ctx, c, vmrecord.Input{
		Image: s.Name, Line: s.Tag(), Arch: s.Archs[0],
		Disks: []vmrecord.DiskFile{
			{Path: res.Raw.Path, Format: catalog.DiskRaw, Digest: res.Raw.Digest},
			{Path: res.QCOW2.Path, Format: catalog.DiskQCOW2, Digest: res.QCOW2.Digest},
		},
		Evidence: ev, Spec: specBytes, Lock: lockBytes,
		Reason: "ingot host build", Built: time.Now().UTC(), Grace: grace,
	})
}

func newHostMirrorCmd(g *globalFlags) *cobra.Command {
	var lockfile string
	cmd := &cobra.Command{
		Use:   "mirror SPEC DIR",
		Short: "Write a spec's locked packages as a local apt mirror that keeps Debian's signatures",
		Long: `Write a spec's locked packages as a local apt mirror that keeps Debian's signatures.

For each repository of the lock, DIR/<n>/ (n counting from 0) is an archive root: dists/<suite>/ holds
the InRelease and Packages index exactly as they were verified when the spec was locked (so apt and
ingot lock verify them against the repository's keyring again), and pool/ holds the locked .debs,
fetched into the verified cache first when missing. This is the mirror ingot host build gives
mmdebstrap; written once, it also lets a machine without network build the spec (CI does so).
DIR must not exist. The InRelease comes from the cache, where ingot lock keeps it, or is fetched
again and must still be the locked one.`,
		Args: usageArgs(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, specPath, err := loadSpec(args[:1])
			if err != nil {
				return err
			}
			if _, err := os.Stat(args[1]); err == nil {
				return usageErrorf("%s exists", args[1])
			}
			env, err := g.writeEnv(cmd)
			if err != nil {
				return err
			}
			popt := pipelineOptions(env, g, cmd, nil)
			if lockfile == "" {
				lockfile = defaultLockPath(specPath)
			}
			l, err := lock.Read(lockfile)
			if err != nil {
				return err
			}
			if err := l.Check(s); err != nil {
				return err
			}
			sources, err := pipeline.Sources(s, popt)
			if err != nil {
				return err
			}
			m, err := vmimage.WriteMirror(cmd.Context(), l, env.Store(), sources, args[1], apt.FetchOptions{Progress: popt.Progress})
			if err != nil {
				return err
			}
			for _, line := range m.Lines {
				fmt.Fprintln(cmd.OutOrStdout(), line)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&lockfile, "lockfile", "l", "", "lock file (default: ingot.lock beside the spec)")
	return cmd
}
