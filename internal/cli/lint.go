package cli

import (
	"context"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"

	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/harden"
	"github.com/ingot-build/ingot/pkg/imageref"
	"github.com/ingot-build/ingot/pkg/report"
	"github.com/ingot-build/ingot/pkg/secrets"
	"github.com/ingot-build/ingot/pkg/stages"
)

type lintFlags struct {
	profile  string
	waive    []string
	output   string
	failOn   string
	platform string
}

func newLintCmd(g *globalFlags) *cobra.Command {
	f := &lintFlags{}
	cmd := &cobra.Command{
		Use:   "lint IMAGE",
		Short: "Check an image against hardening rules: root user, shell, setuid files, secrets and more",
		Long: `Check an image against hardening rules: root user, shell, setuid files, secrets and more.

` + imageHelp + `

Every rule of the profile is reported, passed, failed, waived or skipped, with the offending files and
the remediation.

Profiles: minimal (the default, every rule: what golden images must pass) and cis (the rules that
implement a CIS Docker Benchmark v1.6.0 section 4 recommendation, with that recommendation's severity).

--waive RULE=REASON accepts one rule's failure for this image; the reason is kept in the report. A
waiver for a rule that does not exist is an error, so a typo cannot leave a rule silently enforced.

Lint exists to fail: by default (--fail-on low) any failed rule of severity low or above makes the exit
code 3. --fail-on none reports without failing.

Rules:
` + lintRuleTable(),
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			opt, threshold, err := f.options()
			if err != nil {
				return err
			}
			opt.Limits = g.limits()
			env, err := g.env()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			set, err := openImages(ctx, g, env, args[0], f.platform)
			if err != nil {
				return err
			}
			reports, err := eachImage(ctx, set, func(ctx context.Context, img *imageref.Image) (evidence.Report, error) {
				// One walk of the layers for the rules and the secrets stage their secrets rule needs.
				so := stages.Options{Lint: &opt, Limits: opt.Limits}
				if secretsRuleIn(opt.Profile) {
					so.Secrets = &secrets.Options{Limits: opt.Limits}
				}
				res, err := stages.Run(ctx, img, so)
				if err != nil {
					return evidence.Report{}, fmt.Errorf("linting %s: %w", args[0], err)
				}
				return evidence.Report{Image: subject(img), Tool: "ingot lint", Findings: res.Lint}, nil
			})
			if err != nil {
				return err
			}
			return writeSet(cmd.OutOrStdout(), f.output, set, reports, threshold)
		},
	}
	cmd.Flags().StringVar(&f.profile, "profile", string(harden.ProfileMinimal), "rule profile: "+oneOf(profiles()))
	cmd.Flags().StringArrayVar(&f.waive, "waive", nil, "accept a rule's failure: RULE=REASON (repeatable)")
	cmd.Flags().StringVarP(&f.output, "output", "o", report.FormatTable, "output format: "+oneOf(findingsFormats()))
	addPlatformFlag(cmd, &f.platform)
	cmd.Flags().StringVar(&f.failOn, "fail-on", "low", failOnHelp())
	return cmd
}

// options converts the flags; a nil threshold means --fail-on none.
func (f *lintFlags) options() (harden.Options, *evidence.Severity, error) {
	if err := checkFindingsFormat(f.output); err != nil {
		return harden.Options{}, nil, err
	}
	opt := harden.Options{Profile: harden.Profile(f.profile), Secrets: lintSecrets}
	for _, w := range f.waive {
		rule, reason, ok := strings.Cut(w, "=")
		if !ok {
			return opt, nil, usageErrorf("--waive %q: want RULE=REASON", w)
		}
		opt.Waivers = append(opt.Waivers, harden.Waiver{Rule: strings.TrimSpace(rule), Reason: reason})
	}
	if err := opt.Validate(); err != nil {
		return opt, nil, err
	}
	threshold, err := parseFailOn(f.failOn)
	return opt, threshold, err
}

// lintSecrets runs the secrets stage with its defaults for the secrets rule; an allow-listed secret is
// accepted by waiving that rule.
func lintSecrets(ctx context.Context, img v1.Image) ([]evidence.Finding, error) {
	return secrets.Scan(ctx, img, secrets.Options{})
}

// secretsRuleIn reports whether the profile has the secrets rule.
func secretsRuleIn(p harden.Profile) bool {
	profile, err := harden.ParseProfile(string(p))
	if err != nil {
		return false
	}
	for _, r := range harden.Rules() {
		if r.ID == harden.RuleSecrets && r.In(profile) {
			return true
		}
	}
	return false
}

// lintRuleTable lists the rules for the help text.
func lintRuleTable() string {
	var b strings.Builder
	for _, r := range harden.Rules() {
		cis := ""
		if r.CIS != "" {
			cis = fmt.Sprintf(" (CIS %s, %s)", r.CIS, r.CISSeverity)
		}
		fmt.Fprintf(&b, "  %s  %-8s  %s%s\n", r.ID, r.Severity, r.Title, cis)
	}
	return b.String()
}
