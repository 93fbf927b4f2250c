package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/imageref"
	"github.com/ingot-build/ingot/pkg/imagetest"
	"github.com/ingot-build/ingot/pkg/report"
)

type imageTestFlags struct {
	tests    string
	output   string
	runc     string
	workDir  string
	platform string
}

func newTestCmd(g *globalFlags) *cobra.Command {
	f := &imageTestFlags{}
	cmd := &cobra.Command{
		Use:   "test IMAGE --tests FILE",
		Short: "Run structure tests against an image: commands under runc, files and metadata",
		Long: `Run structure tests against an image: commands under runc, files and metadata.

` + imageHelp + `

FILE is a YAML test file in container-structure-test's format (commandTests, fileExistenceTests,
fileContentTests, metadataTest), decoded strictly: an unknown field is an error (exit code 2, as for a
missing file). Command tests may also set a timeout (default 30s).

Command tests run inside the image with runc, as the image's user, with a read-only root, a tmpfs /tmp,
no network (a new network namespace with only loopback), runc's default unprivileged capabilities and
a time limit; runc needs root. A command that cannot be executed has the exit code a shell (and
docker, so container-structure-test) gives it: 127 when it is not found, 126 when it is not executable.
metadataTest.user matches the account by name or by number, through the image's /etc/passwd and
/etc/group ("nonroot" is "65532" when the image says so). Where command tests cannot run (no runc, not
root, an image for another platform) they are reported skipped, with the reason. For a multi-platform
index every platform image is tested: file and metadata tests on each, command tests on this host's
platform only (the others' are reported skipped).

Every test is reported, passed, failed or skipped. A failed test counts as a finding of severity high,
and any failed test makes the exit code 3.`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFindingsFormat(f.output); err != nil {
				return err
			}
			if f.tests == "" {
				return usageErrorf("--tests FILE is required")
			}
			suite, err := imagetest.Load(f.tests)
			if err != nil {
				return err
			}
			env, err := g.env()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			set, err := openImages(ctx, g, env, args[0], f.platform)
			if err != nil {
				return err
			}
			opt := imagetest.Options{Runc: f.runc, WorkDir: f.workDir, Limits: g.limits()}
			reports, err := eachImage(ctx, set, func(ctx context.Context, img *imageref.Image) (evidence.Report, error) {
				findings, err := imagetest.Run(ctx, img.Image, suite, opt)
				if err != nil {
					return evidence.Report{}, fmt.Errorf("testing %s: %w", args[0], err)
				}
				return evidence.Report{Image: subject(img), Tool: "ingot test", Findings: findings}, nil
			})
			if err != nil {
				return err
			}
			high := evidence.SeverityHigh
			return writeSet(cmd.OutOrStdout(), f.output, set, reports, &high)
		},
	}
	cmd.Flags().StringVar(&f.tests, "tests", "", "structure test file (YAML)")
	cmd.Flags().StringVarP(&f.output, "output", "o", report.FormatTable, "output format: "+oneOf(findingsFormats()))
	addPlatformFlag(cmd, &f.platform)
	cmd.Flags().StringVar(&f.runc, "runc", "", "path of runc (default: runc in PATH)")
	cmd.Flags().StringVar(&f.workDir, "work-dir", "", "where to unpack the image for command tests (default: the system temporary directory)")
	return cmd
}
