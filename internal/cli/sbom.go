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
	"github.com/ingot-build/ingot/pkg/lock"
	"github.com/ingot-build/ingot/pkg/sbom"
)

type sbomFlags struct {
	output     string
	lockfile   string
	outputFile string
	platform   string
}

func newSbomCmd(g *globalFlags) *cobra.Command {
	f := &sbomFlags{}
	cmd := &cobra.Command{
		Use:   "sbom IMAGE",
		Short: "List what is installed in an image, or write its SBOM",
		Long: `List what is installed in an image, or write its SBOM.

` + imageHelp + `

Debian and Alpine packages, Go binaries, npm and Python packages are found layer by layer; a package
deleted in a later layer is not listed, and each one records the layer it came from.

-o picks the output: table (default), json (the inventory), spdx-json (SPDX 2.3) or cyclonedx-json
(CycloneDX 1.6). Documents are reproducible: their time is SOURCE_DATE_EPOCH, else the image's
creation time. --lock adds the sha256 of every .deb and the spec's exclusions from an ingot.lock.

For an index, spdx-json and cyclonedx-json are one document for the whole index: SPDX describes the
index, which CONTAINS each platform image, which CONTAINS its packages; in CycloneDX the index is
metadata.component and each platform image a component with its packages nested in it.`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !slices.Contains(sbom.Formats(), f.output) {
				return usageErrorf("-o %s: want one of %s", f.output, strings.Join(sbom.Formats(), ", "))
			}
			env, err := g.env()
			if err != nil {
				return err
			}
			var l *lock.Lock
			if f.lockfile != "" {
				if l, err = lock.Read(f.lockfile); err != nil {
					return err
				}
			}
			set, err := openImages(cmd.Context(), g, env, args[0], f.platform)
			if err != nil {
				return err
			}
			var ps []sbom.Platform
			for _, img := range set.Images {
				inv, err := g.inventories(cmd, env).Inventory(cmd.Context(), img, sbom.Options{
					Ref:    args[0],
					Limits: g.limits(),
					Skipped: func(path string, err error) {
						fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s left out: %v\n", path, err)
					},
				})
				if err != nil {
					if img.Platform != nil {
						return fmt.Errorf("%s: %w", img.Platform, err)
					}
					return err
				}
				if l != nil {
					sbom.WithLock(inv, l)
				}
				ps = append(ps, sbom.Platform{Inventory: inv})
				if img.Platform != nil {
					ps[len(ps)-1].Platform = img.Platform.String()
				}
			}
			opt := sbom.DocOptions{ToolVersion: selfid.Version()}
			if env.SourceDateEpoch != nil {
				opt.Created = *env.SourceDateEpoch
			} else if cf, err := set.Images[0].ConfigFile(); err == nil {
				opt.Created = cf.Created.Time
			}
			opt.Created = opt.Created.UTC().Truncate(time.Second)
			var buf bytes.Buffer
			if set.Index == nil {
				err = sbom.Write(&buf, f.output, ps[0].Inventory, opt)
			} else {
				idx := indexSubject(set)
				err = sbom.WriteIndex(&buf, f.output, evidence.Image{Ref: idx.Ref, Digest: idx.Digest}, ps, opt)
			}
			if err != nil {
				return err
			}
			if f.outputFile != "" {
				return safefile.Write(f.outputFile, buf.Bytes(), 0o644)
			}
			_, err = cmd.OutOrStdout().Write(buf.Bytes())
			return err
		},
	}
	cmd.Flags().StringVarP(&f.output, "output", "o", sbom.FormatTable, "output format: "+strings.Join(sbom.Formats(), ", "))
	cmd.Flags().StringVar(&f.lockfile, "lock", "", "ingot.lock the image was built from: adds .deb sha256 and exclusions")
	addPlatformFlag(cmd, &f.platform)
	cmd.Flags().StringVar(&f.outputFile, "output-file", "", "write to this file (atomically) instead of standard output")
	return cmd
}
