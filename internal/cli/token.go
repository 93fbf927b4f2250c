package cli

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/server"
)

func newTokenCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "API tokens for ingot serve: create, list, revoke",
		Long: `Bearer tokens for the API that ingot serve offers. A token has a name (the actor recorded when it
changes a status) and a scope: read (every GET) or write (everything). The catalog keeps only a hash
of each secret: the secret is printed once, by create, and cannot be shown again.`,
	}
	cmd.AddCommand(newTokenCreateCmd(g), newTokenLsCmd(g), newTokenRevokeCmd(g))
	return cmd
}

func newTokenCreateCmd(g *globalFlags) *cobra.Command {
	var scope string
	cmd := &cobra.Command{
		Use:   "create NAME --scope read|write",
		Short: "Create a token and print its secret (once)",
		Long: `Create a token named NAME and print its secret on stdout, once: the catalog keeps only its hash.
Pass it as Authorization: Bearer SECRET. Names are unique, revoked tokens' included.`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := server.ParseScope(scope); err != nil {
				return usageErrorf("--scope %q: want read or write", scope)
			}
			return g.withCatalog(cmd.Context(), func(c catalog.Catalog) error {
				secret, t, err := server.CreateToken(cmd.Context(), c, args[0], scope, time.Now())
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "created token %s (scope %s); its secret is shown only now:\n", t.Name, t.Scope)
				_, err = fmt.Fprintln(cmd.OutOrStdout(), secret)
				return err
			})
		},
	}
	cmd.Flags().StringVar(&scope, "scope", "", "read (every GET) or write (everything) (required)")
	return cmd
}

func newTokenLsCmd(g *globalFlags) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List the tokens (never their secrets)",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output, plainFormats()); err != nil {
				return err
			}
			return g.withCatalog(cmd.Context(), func(c catalog.Catalog) error {
				tokens, err := c.ListTokens(cmd.Context())
				if err != nil {
					return err
				}
				if output == "json" {
					return writeJSON(cmd.OutOrStdout(), tokens)
				}
				w := cmd.OutOrStdout()
				if len(tokens) == 0 {
					_, err := fmt.Fprintln(w, "no tokens (ingot token create NAME --scope read|write)")
					return err
				}
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tSCOPE\tCREATED\tSTATE")
				for _, t := range tokens {
					state := "active"
					if t.Revoked {
						state = "revoked"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.Name, t.Scope, stamp(t.Created), state)
				}
				return tw.Flush()
			})
		},
	}
	addOutputFlag(cmd, &output)
	return cmd
}

func newTokenRevokeCmd(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke NAME",
		Short: "Revoke a token: the server refuses it from its next request on",
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withCatalog(cmd.Context(), func(c catalog.Catalog) error {
				if err := c.RevokeToken(cmd.Context(), args[0]); err != nil {
					return err
				}
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "revoked token %s\n", args[0])
				return err
			})
		},
	}
}
