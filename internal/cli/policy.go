package cli

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ingot-build/ingot/pkg/policy"
	"github.com/ingot-build/ingot/pkg/sign"
)

func newPolicyCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Admission policies: test one against images, print the schema",
		Long: `An admission policy (YAML, strict: an unknown field is an error; ingot policy schema prints its JSON
schema) says which namespaces it governs (by name: nothing a workload's author writes exempts it),
which registries are allowed, what happens to images no rule matches (deny by default), and for each
rule's images (globs over normalised references: host case, port 443, docker.io and its aliases,
library/, the default tag) what they must prove: a signature by one of the keys (either format),
attestations on every platform image that verify and meet a CEL condition, and a current version in
the catalog (not revoked or at its end of life, optionally not deprecated past a grace period, and
scanned within maxScanAge). Its mode says what a failure does: enforce, warn or audit.`,
	}
	cmd.AddCommand(newPolicyTestCmd(g), &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON schema of admission policy files",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := cmd.OutOrStdout().Write(policy.Schema())
			return err
		},
	})
	return cmd
}

func newPolicyTestCmd(g *globalFlags) *cobra.Command {
	var (
		images    []string
		namespace string
		output    string
	)
	cmd := &cobra.Command{
		Use:   "test POLICY --image REF",
		Short: "Decide images under a policy, as the admission webhook would",
		Long: `Decides each --image (a reference as a pod spec writes it) in --namespace under the policy, exactly as
ingot admission serve does: the same normalisation, registries, signatures, attestations and catalog
(from the data directory), with nothing cached. Prints one line per image and policy decision with
the digest checked and each failed requirement (-o json: the full decisions). Exit code 3 when an
enforcing policy denies an image.`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, []string{"table", "json"}); err != nil {
				return err
			}
			if len(images) == 0 {
				return usageErrorf("--image is required")
			}
			p, err := policy.Load(args[0])
			if err != nil {
				return err
			}
			ps := []*policy.Policy{p}
			ctx := cmd.Context()
			cat, closeCat, err := openCatalog(ctx, g, ps)
			if err != nil {
				return err
			}
			defer closeCat()
			svc, err := offlineService(ctx, g, ps, cat)
			if err != nil {
				return err
			}
			var results []policy.Result
			var denied []string
			for _, img := range images {
				r := svc.Webhook.Evaluator.Evaluate(ctx, namespace, img)
				results = append(results, r)
				for _, d := range r.Decisions {
					if d.Mode == policy.Enforce && !d.Passed() {
						denied = append(denied, img)
					}
				}
			}
			out := cmd.OutOrStdout()
			if output == "json" {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(results); err != nil {
					return err
				}
			} else {
				for _, r := range results {
					fmt.Fprint(out, resultText(namespace, r))
				}
			}
			if len(denied) > 0 {
				return &deniedError{msg: fmt.Sprintf("denied: %s", strings.Join(denied, ", "))}
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&images, "image", nil, "image reference to decide (repeat for several)")
	cmd.Flags().StringVarP(&namespace, "namespace", "n", "default", "namespace the image would run in")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

// resultText is one image's decisions as lines of text.
func resultText(namespace string, r policy.Result) string {
	var b strings.Builder
	what := r.Image.Written
	if r.Digest != "" {
		what += " (" + r.Digest + ")"
	}
	if len(r.Decisions) == 0 {
		fmt.Fprintf(&b, "%s: allowed: no policy governs namespace %s\n", what, namespace)
		return b.String()
	}
	for _, d := range r.Decisions {
		verdict := "allowed"
		switch {
		case !d.Passed() && d.Mode == policy.Enforce:
			verdict = "denied"
		case !d.Passed():
			verdict = "allowed with failures (" + string(d.Mode) + ")"
		case d.Unmatched:
			verdict = "allowed (no rule matches; unmatched: allow)"
		}
		rules := ""
		if len(d.Rules) > 0 {
			rules = ", rules: " + strings.Join(d.Rules, ", ")
		}
		fmt.Fprintf(&b, "%s: %s by policy %s (%s%s)\n", what, verdict, d.Policy, d.Mode, rules)
		for _, f := range d.Failures {
			fmt.Fprintf(&b, "  %s\n", f)
		}
	}
	return b.String()
}

// remoteFor is how the admission tools reach registries: the test hook's transport when set, else the
// verifier session's own (nil), and the docker config's credentials.
func remoteFor(g *globalFlags) sign.RemoteOptions {
	return sign.RemoteOptions{Transport: g.transport}
}
