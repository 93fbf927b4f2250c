package cli

import (
	"context"
	"io"

	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/imageref"
	"github.com/ingot-build/ingot/pkg/report"
)

// openImage opens an image argument: a name in the layout store, an OCI layout, a docker archive or a
// registry reference.
func openImage(ctx context.Context, env Env, ref string) (*imageref.Image, error) {
	return imageref.Open(ctx, ref, imageref.Options{Layouts: env.Store().Layouts()})
}

// subject identifies an opened image for a report; for an index, the image of this platform.
func subject(img *imageref.Image) evidence.Image {
	out := evidence.Image{Ref: img.Ref}
	if d, err := img.Digest(); err == nil {
		out.Digest = d.String()
	}
	if cf, err := img.ConfigFile(); err == nil {
		out.OS, out.Arch = cf.OS, cf.Architecture
	}
	return out
}

// checkFindingsFormat accepts the -o values of the findings commands.
func checkFindingsFormat(format string) error {
	switch format {
	case report.FormatTable, report.FormatJSON, report.FormatSARIF:
		return nil
	}
	return usageErrorf("-o %q: want table, json or sarif", format)
}

// writeFindings renders a report and fails with a FindingsError (exit 3) when findings reach the
// threshold; a nil threshold never fails.
func writeFindings(w io.Writer, format string, r evidence.Report, threshold *evidence.Severity) error {
	if err := report.Write(w, format, r); err != nil {
		return err
	}
	if threshold == nil {
		return nil
	}
	if n := len(r.AtLeast(*threshold)); n > 0 {
		return &FindingsError{Count: n, Threshold: *threshold}
	}
	return nil
}
