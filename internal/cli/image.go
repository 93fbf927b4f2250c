package cli

import (
	"context"
	"io"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/imageref"
	"github.com/ingot-build/ingot/pkg/report"
)

// imageHelp says how the evidence verbs' IMAGE argument is read; each verb's help starts with it.
const imageHelp = `IMAGE is a name in ingot's store (NAME[:TAG]), an OCI layout (DIR or oci:DIR[:TAG]), a docker
archive (FILE.tar or docker-archive:FILE, uncompressed as docker save writes it) or a registry reference;
registry:REF forces a registry (registry:app.tar). A path (starting with /, ./, ../ or ~, or ending in
.tar) is only read from disk: one that does not exist is an error (exit code 2), never a registry lookup.`

// registryTransport carries registry requests: the test hook's transport when set, else a fresh one
// (never the process-wide default).
func (g *globalFlags) registryTransport() http.RoundTripper {
	if g.transport != nil {
		return g.transport
	}
	return http.DefaultTransport.(*http.Transport).Clone()
}

// openImage opens an image argument: a name in the layout store, an OCI layout, a docker archive or a
// registry reference, reached through the command's transport.
func openImage(ctx context.Context, g *globalFlags, env Env, ref string) (*imageref.Image, error) {
	return imageref.Open(ctx, ref, imageref.Options{
		Layouts: env.Store().Layouts(),
		Remote:  []remote.Option{remote.WithTransport(g.registryTransport())},
	})
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
	return checkOutput(format, findingsFormats())
}

// parseFailOn reads a --fail-on value, the same way for every verb (evidence.ParseFailOn): a level,
// unknown (every finding that counts) included, or "none" (and "" for a flag whose default is empty),
// which never fails: a nil threshold.
func parseFailOn(v string) (*evidence.Severity, error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	s, err := evidence.ParseFailOn(v)
	if err != nil {
		return nil, usageErrorf("--fail-on %v", err)
	}
	return s, nil
}

// parseUnknownAs reads --unknown-as: the level a gate counts findings of unknown severity at.
func parseUnknownAs(v string) (evidence.Severity, error) {
	s, err := evidence.ParseLevel(v)
	if err != nil {
		return 0, usageErrorf("--unknown-as %v", err)
	}
	return s, nil
}

// failOnHelp is the --fail-on flag's usage, the same for every verb.
func failOnHelp() string {
	return "exit 3 when a finding that counts is at or above this level (unknown: any finding): " + oneOf(failOnLevels())
}

// writeFindings renders a report and fails with a FindingsError (exit 3) when findings reach the
// threshold; a nil threshold never fails.
func writeFindings(w io.Writer, format string, r evidence.Report, threshold *evidence.Severity) error {
	if err := report.Write(w, format, r); err != nil {
		return err
	}
	return failOn(r, threshold)
}

// failOn is a FindingsError when findings reach the threshold, counting those of unknown severity at
// the report's UnknownAs; a nil threshold never fails.
func failOn(r evidence.Report, threshold *evidence.Severity) error {
	if threshold == nil {
		return nil
	}
	hit := r.AtLeast(*threshold)
	if len(hit) == 0 {
		return nil
	}
	e := &FindingsError{Count: len(hit), Threshold: *threshold, UnknownAs: r.UnknownAs}
	for _, f := range hit {
		if f.Severity == evidence.SeverityUnknown {
			e.Unknown++
		}
	}
	return e
}
