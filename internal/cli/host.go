package cli

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ingot-build/ingot/internal/safefile"
	"github.com/ingot-build/ingot/internal/selfid"
	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/harden"
	"github.com/ingot-build/ingot/pkg/host"
	"github.com/ingot-build/ingot/pkg/report"
	"github.com/ingot-build/ingot/pkg/sbom"
)

// newHostCmd is the parent of the host-layer verbs (virtual machine images). Each verb lives in its
// own file and is added here.
func newHostCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "host",
		Short: "Virtual machine images: build them, audit a root file system, tarball or disk image, check the fleets that run them",
		Args:  usageArgs(cobra.NoArgs),
	}
	cmd.AddCommand(newHostBuildCmd(g), newHostMirrorCmd(g), newHostAuditCmd(g), newHostSchemaCmd(), newHostFleetCmd(g))
	return cmd
}

func newHostSchemaCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "policy-schema",
		Short: "Print the JSON schema of the host audit policy (--policy)",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := cmd.OutOrStdout().Write(host.PolicySchema())
			return err
		},
	}
}

type hostAuditFlags struct {
	profile    string
	waive      []string
	policy     string
	output     string
	failOn     string
	scan       bool
	noSecrets  bool
	sbomFile   string
	sbomFormat string
}

func newHostAuditCmd(g *globalFlags) *cobra.Command {
	f := &hostAuditFlags{}
	cmd := &cobra.Command{
		Use:   "audit TARGET",
		Short: "Audit a VM image offline: CIS hardening rules, build leftovers, approved agents, secrets",
		Long: `Audit a virtual machine image offline: CIS hardening rules, build leftovers, approved agents, secrets.

TARGET is a root file system directory, a tarball of one (plain, gzip or zstd), or a raw or qcow2 disk
image. Disks are read without mounting: the GPT or MBR partition table and the ext4 root file system
(the first ext4 partition with /etc) are read by go-diskfs; qcow2 is first converted to a temporary raw
image with qemu-img (Debian package qemu-utils), and is an error without it. Symbolic links are
resolved inside the target, never on this machine; a link loop, or a link that climbs above the
target's root, is an error (exit 2).

Profiles: minimal (the default, every rule: what golden VM images must pass), cis-l1 (the rules that
implement a Level 1 recommendation of the ` + host.Benchmark + `) and
cis-l2 (Level 1 and 2). The agents rules run in every profile when --policy is given.

--policy FILE is an audit policy (YAML; its JSON schema: ingot host policy-schema): agents that must
be installed at a version in their range (dpkg ordering, ">=1.2, <2"), and forbidden packages.

--waive RULE=REASON accepts one rule's failure; the reason is kept in the report. The secrets stage runs
on the tree (rule INGOT-V069) unless --no-secrets, in the same single read of the tree that hashes it
for the report's digest; --scan adds the vulnerability findings of the local database (ingot db
update) and --sbom FILE writes the tree's inventory as a document (both read the tree once more).

By default (--fail-on low) any failed rule of severity low or above makes the exit code 3.

Rules:
` + hostRuleTable(),
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			opt, threshold, err := f.options()
			if err != nil {
				return err
			}
			opt.Limits = g.limits()
			if f.scan {
				env, err := g.env()
				if err != nil {
					return err
				}
				db := env.Store().VulnDB()
				st, err := db.Status()
				if err != nil {
					return err
				}
				if len(st.Sources) == 0 {
					return fmt.Errorf("no vulnerability data in %s: run ingot db import (or ingot db update) first", db.Dir)
				}
				opt.VulnDB = db
			}
			res, err := host.Run(cmd.Context(), args[0], opt)
			if err != nil {
				return err
			}
			if f.sbomFile != "" {
				var buf bytes.Buffer
				err := sbom.Write(&buf, f.sbomFormat, res.Inventory, sbom.DocOptions{ToolVersion: selfid.Version(), Created: time.Unix(0, 0).UTC()})
				if err == nil {
					err = safefile.Write(f.sbomFile, buf.Bytes(), 0o644)
				}
				if err != nil {
					return fmt.Errorf("writing --sbom %s: %w", f.sbomFile, err)
				}
			}
			return writeSet(cmd.OutOrStdout(), f.output, nil, []evidence.Report{res.Report}, threshold)
		},
	}
	cmd.Flags().StringVar(&f.profile, "profile", string(host.ProfileMinimal), "rule profile: "+oneOf(hostProfiles()))
	cmd.Flags().StringArrayVar(&f.waive, "waive", nil, "accept a rule's failure: RULE=REASON (repeatable)")
	cmd.Flags().StringVar(&f.policy, "policy", "", "audit policy file: required agents and versions, forbidden packages")
	cmd.Flags().StringVarP(&f.output, "output", "o", report.FormatTable, "output format: "+oneOf(findingsFormats()))
	cmd.Flags().StringVar(&f.failOn, "fail-on", "low", failOnHelp())
	cmd.Flags().BoolVar(&f.scan, "scan", false, "add the vulnerability findings of the tree's packages (local database)")
	cmd.Flags().BoolVar(&f.noSecrets, "no-secrets", false, "skip the secrets stage (its rule is reported as skipped)")
	cmd.Flags().StringVar(&f.sbomFile, "sbom", "", "write the tree's inventory to this file (atomically)")
	cmd.Flags().StringVar(&f.sbomFormat, "sbom-format", sbom.FormatCycloneDX, "format of --sbom: "+oneOf(hostSbomFormats()))
	return cmd
}

// options converts the flags; a nil threshold means --fail-on none.
func (f *hostAuditFlags) options() (host.RunOptions, *evidence.Severity, error) {
	var opt host.RunOptions
	if err := checkFindingsFormat(f.output); err != nil {
		return opt, nil, err
	}
	if f.sbomFile != "" && !slices.Contains(hostSbomFormats(), f.sbomFormat) {
		return opt, nil, usageErrorf("--sbom-format %q: want %s", f.sbomFormat, oneOf(hostSbomFormats()))
	}
	opt.Audit.Profile = host.Profile(f.profile)
	for _, w := range f.waive {
		rule, reason, ok := strings.Cut(w, "=")
		if !ok {
			return opt, nil, usageErrorf("--waive %q: want RULE=REASON", w)
		}
		opt.Audit.Waivers = append(opt.Audit.Waivers, harden.Waiver{Rule: strings.TrimSpace(rule), Reason: reason})
	}
	if f.policy != "" {
		p, err := host.LoadPolicy(f.policy)
		if err != nil {
			return opt, nil, err
		}
		opt.Audit.Policy = p
	}
	if err := opt.Audit.Validate(); err != nil {
		return opt, nil, err
	}
	opt.NoSecrets, opt.Inventory = f.noSecrets, f.sbomFile != ""
	threshold, err := parseFailOn(f.failOn)
	return opt, threshold, err
}

func hostProfiles() []string {
	var out []string
	for _, p := range host.Profiles() {
		out = append(out, string(p))
	}
	return out
}

// hostSbomFormats are the document formats of --sbom.
func hostSbomFormats() []string {
	return []string{sbom.FormatCycloneDX, sbom.FormatSPDX, sbom.FormatJSON}
}

// hostRuleTable lists the rules for the help text.
func hostRuleTable() string {
	var b strings.Builder
	for _, r := range host.Rules() {
		cis := ""
		if len(r.CIS) > 0 {
			cis = fmt.Sprintf(" (CIS %s, L%d)", strings.Join(r.CIS, ", "), r.Level)
		}
		fmt.Fprintf(&b, "  %s  %-8s  %s%s\n", r.ID, r.Severity, r.Title, cis)
	}
	return b.String()
}
