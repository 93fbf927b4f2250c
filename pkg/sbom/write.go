package sbom

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/ingot-build/ingot/pkg/evidence"
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
