package cli

import (
	"slices"
	"strings"

	"github.com/ingot-build/ingot/pkg/attest"
	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/harden"
	"github.com/ingot-build/ingot/pkg/report"
	"github.com/ingot-build/ingot/pkg/sign"
)

// The values of the flags that take one of a fixed set. Each list comes from the package that parses
// the value (or, for the CLI's own, from the check that accepts it), so that help and errors list
// exactly what is accepted, and a value added there appears here.

// findingsFormats are -o of secrets, lint and test: the report formats.
func findingsFormats() []string { return report.Formats() }

// scanFormats are -o of scan: the report formats and cosign's vuln predicate.
func scanFormats() []string { return append(report.Formats(), formatCosignVuln) }

// plainFormats are -o of fsck and db status.
func plainFormats() []string { return []string{report.FormatTable, report.FormatJSON} }

// verifyOutputs are -o of verify.
func verifyOutputs() []string { return []string{"text", report.FormatJSON} }

// failOnNone is the --fail-on value that never fails.
const failOnNone = "none"

// failOnLevels are what --fail-on takes (evidence.ParseFailOn): every level pkg/evidence defines,
// lowest first, then none.
func failOnLevels() []string { return append(evidence.Levels(), failOnNone) }

// profiles are lint's --profile values.
func profiles() []string {
	var out []string
	for _, p := range harden.Profiles() {
		out = append(out, string(p))
	}
	return out
}

// oneOf lists a flag's values for its help and its errors: "a, b or c".
func oneOf(values []string) string {
	if len(values) < 2 {
		return strings.Join(values, "")
	}
	return strings.Join(values[:len(values)-1], ", ") + " or " + values[len(values)-1]
}

// checkOutput is nil when -o value is one of values, else the usage error that lists them.
func checkOutput(value string, values []string) error {
	if slices.Contains(values, value) {
		return nil
	}
	return usageErrorf("-o %q: want %s", value, oneOf(values))
}

// signFormatHelp and typeHelp end the help of --format and --sign-format, --type and --attestation.
func signFormatHelp() string { return oneOf(sign.FormatNames()) }

func typeHelp() string { return "a URI or one of " + strings.Join(attest.TypeNames(), ", ") }
