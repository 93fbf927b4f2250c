package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/spf13/cobra"

	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/imageref"
	"github.com/ingot-build/ingot/pkg/report"
)

// imageHelp says how the evidence verbs' IMAGE argument is read; each verb's help starts with it.
const imageHelp = `IMAGE is a name in ingot's store (NAME[:TAG]), an OCI layout (DIR or oci:DIR[:TAG]), a docker
archive (FILE.tar or docker-archive:FILE, uncompressed as docker save writes it) or a registry reference;
registry:REF forces a registry (registry:app.tar). A path (starting with /, ./, ../ or ~, or ending in
.tar) is only read from disk: one that does not exist is an error (exit code 2), never a registry lookup.

For an index (a multi-platform image), every platform image is covered, each in its own section of
the output (in json, {"index": {"ref", "digest"}, "platforms": [...]}, each platform as a single image
prints); --platform os/arch[/variant] picks one. A platform the index lacks is bad input (exit code 2).`

// registryTransport carries registry requests: the test hook's transport when set, else a fresh one
// (never the process-wide default).
func (g *globalFlags) registryTransport() http.RoundTripper {
	if g.transport != nil {
		return g.transport
	}
	return http.DefaultTransport.(*http.Transport).Clone()
}

// addPlatformFlag adds --platform to an evidence verb.
func addPlatformFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVar(p, "platform", "", "for an index, only this platform (os/arch[/variant], e.g. linux/arm64); default every platform")
}

// parsePlatform reads --platform; "" is every platform (the zero value).
func parsePlatform(s string) (v1.Platform, error) {
	if s == "" {
		return v1.Platform{}, nil
	}
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || slices.Contains(parts, "") {
		return v1.Platform{}, usageErrorf("--platform %q: want os/arch[/variant], e.g. linux/arm64", s)
	}
	p := v1.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return p, nil
}

// openImages opens an evidence verb's IMAGE argument: a name in the layout store, an OCI layout, a
// docker archive or a registry reference, reached through the command's transport. An index gives
// every platform image, or the one --platform names. This is the one place the evidence verbs fan
// out over platforms; each then runs its stage per image and renders with writeSet (or sbom's own).
func openImages(ctx context.Context, g *globalFlags, env Env, ref, platform string) (*imageref.Set, error) {
	p, err := parsePlatform(platform)
	if err != nil {
		return nil, err
	}
	return imageref.OpenAll(ctx, ref, imageref.Options{
		Layouts:  env.Store().Layouts(),
		Platform: p,
		Remote:   []remote.Option{remote.WithTransport(g.registryTransport())},
	})
}

// eachImage runs one verb's stage on every image of the set, in order, and returns the reports.
func eachImage(ctx context.Context, set *imageref.Set, stage func(context.Context, *imageref.Image) (evidence.Report, error)) ([]evidence.Report, error) {
	out := make([]evidence.Report, 0, len(set.Images))
	for _, img := range set.Images {
		r, err := stage(ctx, img)
		if err != nil {
			if img.Platform != nil {
				return nil, fmt.Errorf("%s: %w", img.Platform, err)
			}
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// indexSubject identifies the index of a set for output.
func indexSubject(set *imageref.Set) report.Index {
	out := report.Index{Ref: set.Ref}
	if d, err := set.Digest(); err == nil {
		out.Digest = d.String()
	}
	return out
}

// writeSet renders the reports of a set: a single image exactly as before, an index with a section
// per platform. Findings of every platform count towards the threshold.
func writeSet(w io.Writer, format string, set *imageref.Set, reports []evidence.Report, threshold *evidence.Severity) error {
	if err := renderSet(w, format, set, reports); err != nil {
		return err
	}
	return failOn(reports, threshold)
}

// renderSet renders the reports of a set: one report for an image, per-platform sections for an
// index (a nil set is one report, as for scan --sbom).
func renderSet(w io.Writer, format string, set *imageref.Set, reports []evidence.Report) error {
	if set == nil || set.Index == nil {
		return report.Write(w, format, reports[0])
	}
	ps := make([]report.Platform, len(reports))
	for i, r := range reports {
		ps[i] = report.Platform{Platform: set.Images[i].Platform.String(), Report: r}
	}
	return report.WriteIndex(w, format, indexSubject(set), ps)
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

// failOn is a FindingsError when findings of the reports (an image's, or each platform image's of an
// index) reach the threshold, counting those of unknown severity at each report's UnknownAs; a nil
// threshold never fails.
func failOn(rs []evidence.Report, threshold *evidence.Severity) error {
	if threshold == nil {
		return nil
	}
	e := &FindingsError{Threshold: *threshold}
	for _, r := range rs {
		hit := r.AtLeast(*threshold)
		e.Count += len(hit)
		e.UnknownAs = r.UnknownAs
		for _, f := range hit {
			if f.Severity == evidence.SeverityUnknown {
				e.Unknown++
			}
		}
	}
	if e.Count == 0 {
		return nil
	}
	return e
}

// platformList names the platforms of a set: "linux/amd64, linux/arm64".
func platformList(set *imageref.Set) string {
	var out []string
	for _, img := range set.Images {
		if img.Platform != nil {
			out = append(out, img.Platform.String())
		}
	}
	return strings.Join(out, ", ")
}
