package secrets

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzScanBytes feeds arbitrary text to the rules: whatever the input, matches lie inside it, name
// the text they came from, and their redacted form never shows the whole secret.
func FuzzScanBytes(f *testing.F) {
	rules := DefaultRules()
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, m := range ScanBytes("fuzz", data, rules) {
			if m.Start < 0 || m.End > len(data) || m.Start >= m.End || string(data[m.Start:m.End]) != m.Secret {
				t.Fatalf("match %d..%d outside or unlike the text (%d bytes)", m.Start, m.End, len(data))
			}
			if m.Line != 1+bytes.Count(data[:m.Start], []byte{'\n'}) {
				t.Fatalf("line %d is wrong", m.Line)
			}
			if r := m.Redacted(); strings.Contains(r, m.Secret) {
				t.Fatalf("redacted %q shows the secret", r)
			}
		}
	})
}
