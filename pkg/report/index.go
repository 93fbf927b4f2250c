package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/owenrumney/go-sarif/v2/sarif"

	"github.com/ingot-build/ingot/pkg/evidence"
)

// Platform is one platform image's report within an index.
type Platform struct {
	// Platform is how the index names it: "linux/amd64", "linux/arm64/v8".
	Platform string
	Report   evidence.Report
}

// Index is the identity of an index in multi-platform output: how the user named it, and its digest.
type Index struct {
	Ref    string `json:"ref,omitempty"`
	Digest string `json:"digest"`
}

// IndexJSON is the JSON shape of an index's results: the index, and each platform's result exactly
// as a single image's prints, in index order. sbom uses it for inventories too.
type IndexJSON struct {
	Index     Index             `json:"index"`
	Platforms []json.RawMessage `json:"platforms"`
}

// WriteIndex renders the reports of an index's platform images, in index order, by composing the
// single-image renderings: table, one section per platform (a heading with the platform and digest,
// then the table and summary line as Table writes them) and a last line for the whole index; json,
// an IndexJSON; sarif, one run per platform, each run's properties naming the platform and digest.
func WriteIndex(w io.Writer, format string, idx Index, ps []Platform) error {
	switch format {
	case FormatTable, "":
		return indexTable(w, idx, ps)
	case FormatJSON:
		return indexJSON(w, idx, ps)
	case FormatSARIF:
		return indexSARIF(w, idx, ps)
	}
	return fmt.Errorf("unknown output format %q (want table, json or sarif)", format)
}

// PlatformHeading is the line that starts a platform's section in table output.
func PlatformHeading(platform, digest string) string {
	return fmt.Sprintf("== %s %s ==", platform, digest)
}

func indexTable(w io.Writer, idx Index, ps []Platform) error {
	counts := map[evidence.Severity]int{}
	for i, p := range ps {
		if i > 0 {
			if _, err := fmt.Fprintln(w); err != nil {
				return err
			}
		}
		if _, err := fmt.Fprintln(w, PlatformHeading(p.Platform, p.Report.Image.Digest)); err != nil {
			return err
		}
		r := p.Report
		// The summary line names the report by its reference: say which platform it is about.
		r.Image.Ref = fmt.Sprintf("%s (%s)", name(r), p.Platform)
		if err := Write(w, FormatTable, r); err != nil {
			return err
		}
		for _, f := range p.Report.Findings {
			if f.Counts() {
				counts[f.Severity]++
			}
		}
	}
	var parts []string
	for s := evidence.SeverityCritical; s >= evidence.SeverityUnknown; s-- {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
		}
	}
	summary := "no findings"
	if len(parts) > 0 {
		summary = strings.Join(parts, ", ") + " (worst " + worst(counts).String() + ")"
	}
	_, err := fmt.Fprintf(w, "\n%s (index %s, %d platforms): %s\n", idx.Ref, idx.Digest, len(ps), summary)
	return err
}

func worst(counts map[evidence.Severity]int) evidence.Severity {
	for s := evidence.SeverityCritical; s > evidence.SeverityUnknown; s-- {
		if counts[s] > 0 {
			return s
		}
	}
	return evidence.SeverityUnknown
}

func indexJSON(w io.Writer, idx Index, ps []Platform) error {
	out := IndexJSON{Index: idx, Platforms: []json.RawMessage{}}
	for _, p := range ps {
		var b bytes.Buffer
		if err := Write(&b, FormatJSON, p.Report); err != nil {
			return err
		}
		out.Platforms = append(out.Platforms, json.RawMessage(bytes.TrimSpace(b.Bytes())))
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// indexSARIF renders each platform as SARIF renders a single image and gathers the runs into one
// log: SARIF allows several runs, and code scanning tells them apart by their properties.
func indexSARIF(w io.Writer, idx Index, ps []Platform) error {
	log, err := sarif.New(sarif.Version210)
	if err != nil {
		return err
	}
	for _, p := range ps {
		var b bytes.Buffer
		if err := SARIF(&b, p.Report); err != nil {
			return err
		}
		one, err := sarif.FromBytes(b.Bytes())
		if err != nil {
			return err
		}
		for _, run := range one.Runs {
			if run.Properties == nil {
				run.Properties = sarif.Properties{}
			}
			run.Properties["platform"] = p.Platform
			run.Properties["digest"] = p.Report.Image.Digest
			run.Properties["index"] = idx.Digest
			if idx.Ref != "" {
				run.Properties["ref"] = idx.Ref
			}
			log.AddRun(run)
		}
	}
	return writeSARIF(w, log)
}
