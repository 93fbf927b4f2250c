package attest_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/ingot-build/ingot/pkg/attest"
)

// goldenPredicate is one predicate as the golden file holds it.
type goldenPredicate struct {
	Type      string `json:"predicateType"`
	Predicate any    `json:"predicate"`
}

var (
	loopbackURL = regexp.MustCompile(`http://127\.0\.0\.1:[0-9]+`)
	tempPath    = regexp.MustCompile(`(/[^"/]+)*/Test[^/"]*/[0-9]{3}`)
	timestamp   = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$`)
)

// normalise replaces what differs from one build of the fixture to the next (the repository's port,
// key and dates, temporary directories, times, the invocation ID, the test binary's build ID) so that
// predicates can be compared with the golden file by content.
func normalise(t *testing.T, preds []attest.Predicate) []goldenPredicate {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	var out []goldenPredicate
	for _, p := range preds {
		var v any
		if err := json.Unmarshal(p.JSON, &v); err != nil {
			t.Fatalf("%s: %v", p.Type, err)
		}
		out = append(out, goldenPredicate{Type: p.Type, Predicate: normaliseValue(v, "", filepath.ToSlash(wd))})
	}
	return out
}

func normaliseValue(v any, key, wd string) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normaliseValue(e, k, wd)
		}
		// The Release and Packages digests, and the spec and lock's, depend on the repository's URL,
		// key and date.
		if uri, ok := x["uri"].(string); ok && strings.Contains(uri, "/dists/") {
			x["digest"] = "<varies>"
		}
		if key == "spec" || key == "lock" {
			for _, d := range []string{"digest", "canonicalDigest"} {
				if _, ok := x[d]; ok {
					x[d] = "<varies>"
				}
			}
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = normaliseValue(e, key, wd)
		}
		return x
	case string:
		switch key {
		case "invocationId", "buildID", "signer", "go":
			return "<varies>"
		}
		if timestamp.MatchString(x) {
			return "<time>"
		}
		x = strings.ReplaceAll(x, wd, "<pkgdir>")
		x = loopbackURL.ReplaceAllString(x, "<repo>")
		return tempPath.ReplaceAllString(x, "<tmp>")
	}
	return v
}

// TestPredicatesGolden: the predicates rendered in memory from the fixture build's evidence
// (vulnerability data and structure tests) are those the golden file holds, JSON compared by
// content. The golden file was written by attest.FromEvidence, which read the evidence directory back
// before predicates were rendered from memory; the evidence directory, read back through the store,
// still gives exactly the same predicates as memory.
func TestPredicatesGolden(t *testing.T) {
	b := buildEvidence(t, true, true)
	preds, err := attest.Predicates(b.set)
	if err != nil {
		t.Fatal(err)
	}
	read, err := b.store.ReadEvidence(b.digest)
	if err != nil {
		t.Fatal(err)
	}
	fromDir, err := attest.Predicates(read)
	if err != nil {
		t.Fatal(err)
	}
	if len(fromDir) != len(preds) {
		t.Fatalf("%d predicates from the evidence directory, %d from memory", len(fromDir), len(preds))
	}
	for i := range preds {
		// Compacted as a signed statement holds it.
		var a, c bytes.Buffer
		if err := json.Compact(&a, preds[i].JSON); err != nil {
			t.Fatal(err)
		}
		if err := json.Compact(&c, fromDir[i].JSON); err != nil {
			t.Fatal(err)
		}
		if fromDir[i].Type != preds[i].Type || a.String() != c.String() {
			t.Errorf("predicate %d (%s) from the evidence directory differs from memory:\n%s\n%s", i, preds[i].Type, c.String(), a.String())
		}
	}
	got := normalise(t, preds)
	golden := filepath.Join("testdata", "predicates.golden.json")
	// -update is declared by the package's internal tests (provenance_test.go).
	if f := flag.Lookup("update"); f != nil && f.Value.String() == "true" {
		var b strings.Builder
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(got); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	var want []goldenPredicate
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatal(err)
	}
	// Round-trip got through JSON so both sides hold the same Go types.
	gotData, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	var gotBack []goldenPredicate
	if err := json.Unmarshal(gotData, &gotBack); err != nil {
		t.Fatal(err)
	}
	if len(gotBack) != len(want) {
		t.Fatalf("%d predicates, want %d", len(gotBack), len(want))
	}
	for i := range want {
		if gotBack[i].Type != want[i].Type {
			t.Errorf("predicate %d: type %s, want %s", i, gotBack[i].Type, want[i].Type)
			continue
		}
		if !reflect.DeepEqual(gotBack[i].Predicate, want[i].Predicate) {
			g, _ := json.MarshalIndent(gotBack[i].Predicate, "", "  ")
			t.Errorf("predicate %s differs from the golden file:\n%s", want[i].Type, g)
		}
	}
}
