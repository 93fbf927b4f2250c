package sbom

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/report"
)

// Output formats of Write.
const (
	FormatTable     = "table"          // name, version, type, layer: for people
	FormatJSON      = "json"           // the inventory itself, as pkg/evidence defines it
	FormatSPDX      = "spdx-json"      // SPDX 2.3 JSON
	FormatCycloneDX = "cyclonedx-json" // CycloneDX 1.6 JSON
)

// Formats lists Write's formats, for flag help and validation.
func Formats() []string { return []string{FormatTable, FormatJSON, FormatSPDX, FormatCycloneDX} }

// Write renders inv in format.
func Write(w io.Writer, format string, inv *evidence.Inventory, opt DocOptions) error {
	var (
		b   []byte
		err error
	)
	switch format {
	case FormatTable, "":
		return Table(w, inv)
	case FormatJSON:
		var out bytes.Buffer
		enc := json.NewEncoder(&out)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false) // package URLs hold "&"
		err = enc.Encode(inv)
		b = out.Bytes()
	case FormatSPDX:
		b, err = SPDX(inv, opt)
	case FormatCycloneDX:
		b, err = CycloneDX(inv, opt)
	default:
		return fmt.Errorf("unknown SBOM format %q (want %s)", format, strings.Join(Formats(), ", "))
	}
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// Platform is one platform image's inventory within an index.
type Platform struct {
	// Platform is how the index names it: "linux/amd64", "linux/arm64/v8".
	Platform  string
	Inventory *evidence.Inventory
}

// WriteIndex renders the inventories of an index's platform images, in index order: table, one
// section per platform headed by its platform and digest, then a line for the index; json, the
// index and each inventory as Write prints it (report.IndexJSON); spdx-json and cyclonedx-json, one
// document for the whole index (SPDXIndex, CycloneDXIndex).
func WriteIndex(w io.Writer, format string, index evidence.Image, ps []Platform, opt DocOptions) error {
	invs := make([]*evidence.Inventory, len(ps))
	for i, p := range ps {
		invs[i] = p.Inventory
	}
	var (
		b   []byte
		err error
	)
	switch format {
	case FormatTable, "":
		return indexTable(w, index, ps)
	case FormatJSON:
		out := report.IndexJSON{Index: report.Index{Ref: index.Ref, Digest: index.Digest}, Platforms: []json.RawMessage{}}
		for _, inv := range invs {
			var one bytes.Buffer
			if err := Write(&one, FormatJSON, inv, opt); err != nil {
				return err
			}
			out.Platforms = append(out.Platforms, json.RawMessage(bytes.TrimSpace(one.Bytes())))
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		err = enc.Encode(out)
		b = buf.Bytes()
	case FormatSPDX:
		b, err = SPDXIndex(index, invs, opt)
	case FormatCycloneDX:
		b, err = CycloneDXIndex(index, invs, opt)
	default:
		return fmt.Errorf("unknown SBOM format %q (want %s)", format, strings.Join(Formats(), ", "))
	}
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

func indexTable(w io.Writer, index evidence.Image, ps []Platform) error {
	var counts []string
	for i, p := range ps {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintln(w, report.PlatformHeading(p.Platform, p.Inventory.Image.Digest))
		if err := Table(w, p.Inventory); err != nil {
			return err
		}
		counts = append(counts, fmt.Sprintf("%d packages on %s", len(p.Inventory.Packages), p.Platform))
	}
	_, err := fmt.Fprintf(w, "\n%s (index %s, %d platforms): %s\n", index.Ref, index.Digest, len(ps), strings.Join(counts, ", "))
	return err
}

// Table writes one line per package: name, version, type and the layer it came from (shortened as
// docker shortens IDs), like syft's table.
func Table(w io.Writer, inv *evidence.Inventory) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tVERSION\tTYPE\tLAYER")
	for _, p := range inv.Packages {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Name, p.Version, p.Type, shortLayer(p.Layer))
	}
	return tw.Flush()
}

func shortLayer(d string) string {
	_, hex, ok := strings.Cut(d, ":")
	if !ok || len(hex) < 12 {
		return d
	}
	return hex[:12]
}
