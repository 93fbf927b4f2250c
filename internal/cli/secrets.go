package cli

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/imageref"
	"github.com/ingot-build/ingot/pkg/report"
	"github.com/ingot-build/ingot/pkg/secrets"
)

type secretsFlags struct {
	output      string
	allow       []string
	failOn      string
	maxFileSize int64
	scanAll     bool
	platform    string
}

func newSecretsCmd(g *globalFlags) *cobra.Command {
	f := &secretsFlags{}
	cmd := &cobra.Command{
		Use:   "secrets IMAGE",
		Short: "Find credentials in an image's layers, environment and build history",
		Long: `Find credentials in an image's layers, environment and build history.

` + imageHelp + `

Every layer is read, so a file that a later layer deletes or overwrites is still reported, with the
layer that holds it: deleting a secret in a later layer does not remove it from the image. ENV values,
labels, entrypoint, command and the build history (ARG and --build-arg values end up there) are read
too. Reports show the rule, the layer, the path and line, and the first characters of the secret only.

Binaries and files over --max-file-size are not read, nor, unless --all-paths, documentation,
translations, public CA certificates, and tests inside third-party dependency trees (site-packages,
node_modules, Go module caches), which hold published test keys.

--allow RULE:GLOB=REASON accepts findings of RULE (empty for any rule) under the path GLOB (empty for
any path; "**" spans directories, ENV:NAME and history[N] name config findings). They stay in the
report as waived, with the reason.

By default findings are reported without failing; --fail-on SEVERITY makes the exit code 3 when a
finding that is not waived has that severity or higher.

Rules:
`,
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
				findings, err := secrets.Scan(ctx, img, opt)
				if err != nil {
					return evidence.Report{}, fmt.Errorf("scanning %s for secrets: %w", args[0], err)
				}
				return evidence.Report{Image: subject(img), Tool: "ingot secrets", Findings: findings}, nil
			})
			if err != nil {
				return err
			}
			return writeSet(cmd.OutOrStdout(), f.output, set, reports, threshold)
		},
	}
	cmd.Flags().StringVarP(&f.output, "output", "o", report.FormatTable, "output format: "+oneOf(findingsFormats()))
	cmd.Flags().StringArrayVar(&f.allow, "allow", nil, "accept findings: RULE:GLOB=REASON, RULE or GLOB may be empty (repeatable)")
	addPlatformFlag(cmd, &f.platform)
	cmd.Flags().StringVar(&f.failOn, "fail-on", "none", failOnHelp())
	cmd.Flags().Int64Var(&f.maxFileSize, "max-file-size", secrets.DefaultMaxFileSize, "skip files larger than this many bytes")
	cmd.Flags().BoolVar(&f.scanAll, "all-paths", false, "also read documentation, certificates and dependency test trees")
	// The rule table is added when the help is shown: listing the rules compiles every rule's
	// regular expression, which every other command would pay for at start-up.
	var table sync.Once
	cmd.SetHelpFunc(func(c *cobra.Command, args []string) {
		table.Do(func() { c.Long += secretsRuleTable() })
		c.Root().HelpFunc()(c, args)
	})
	return cmd
}

// options converts the flags; a nil threshold means --fail-on none.
func (f *secretsFlags) options() (secrets.Options, *evidence.Severity, error) {
	if err := checkFindingsFormat(f.output); err != nil {
		return secrets.Options{}, nil, err
	}
	if f.maxFileSize <= 0 {
		return secrets.Options{}, nil, usageErrorf("--max-file-size %d: want a positive number of bytes", f.maxFileSize)
	}
	opt := secrets.Options{MaxFileSize: f.maxFileSize}
	if f.scanAll {
		opt.SkipPaths = []string{}
	}
	for _, a := range f.allow {
		allow, err := parseSecretAllow(a)
		if err != nil {
			return opt, nil, err
		}
		opt.Allow = append(opt.Allow, allow)
	}
	if err := opt.Validate(); err != nil {
		return opt, nil, err
	}
	threshold, err := parseFailOn(f.failOn)
	return opt, threshold, err
}

// parseSecretAllow reads RULE:GLOB=REASON. Rule IDs have no colon, so the first one ends the rule;
// the first "=" after it ends the glob.
func parseSecretAllow(v string) (secrets.Allow, error) {
	rule, rest, ok := strings.Cut(v, ":")
	if !ok {
		return secrets.Allow{}, usageErrorf("--allow %q: want RULE:GLOB=REASON", v)
	}
	glob, reason, ok := strings.Cut(rest, "=")
	if !ok || strings.TrimSpace(reason) == "" {
		return secrets.Allow{}, usageErrorf("--allow %q: a reason is required (RULE:GLOB=REASON)", v)
	}
	rule = strings.TrimSpace(rule)
	if rule == "*" {
		rule = ""
	}
	if rule != "" && !secretsKnownRule(rule) {
		return secrets.Allow{}, usageErrorf("--allow %q: no rule %q (see ingot secrets --help)", v, rule)
	}
	return secrets.Allow{Rule: rule, Path: strings.TrimSpace(glob), Reason: strings.TrimSpace(reason)}, nil
}

func secretsKnownRule(id string) bool {
	for _, r := range secrets.DefaultRules() {
		if r.ID == id {
			return true
		}
	}
	return false
}

// secretsRuleTable lists the rules for the help text.
func secretsRuleTable() string {
	var b strings.Builder
	for _, r := range secrets.DefaultRules() {
		fmt.Fprintf(&b, "  %-26s %-8s  %s\n", r.ID, r.Severity, r.Title)
	}
	return b.String()
}
