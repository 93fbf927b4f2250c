package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/owenrumney/go-sarif/v2/sarif"

	"github.com/ingot-build/ingot/pkg/evidence"
)

// twoPlatforms is an index whose amd64 image has the sample's findings and whose arm64 image has one
// medium finding only.
func twoPlatforms() (Index, []Platform) {
	amd := sample()
	amd.Image.Digest, amd.Image.OS, amd.Image.Arch = "sha256:aaa", "linux", "amd64"
	arm := evidence.Report{Image: evidence.Image{Ref: "static:1", Digest: "sha256:bbb", OS: "linux", Arch: "arm64"}, Tool: "ingot scan",
		Findings: []evidence.Finding{{Kind: evidence.KindVulnerability, ID: "CVE-2024-9", Severity: evidence.SeverityMedium, Status: evidence.StatusAffected, Package: &evidence.PackageRef{Name: "zlib1g", Version: "1.2"}}}}
	return Index{Ref: "static:1", Digest: "sha256:iii"}, []Platform{{"linux/amd64", amd}, {"linux/arm64/v8", arm}}
}

func TestWriteIndexTable(t *testing.T) {
	idx, ps := twoPlatforms()
	var b bytes.Buffer
	if err := WriteIndex(&b, FormatTable, idx, ps); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	amd := strings.Index(out, "== linux/amd64 sha256:aaa ==")
	arm := strings.Index(out, "== linux/arm64/v8 sha256:bbb ==")
	if amd < 0 || arm < amd {
		t.Fatalf("want a section per platform, in index order:\n%s", out)
	}
	for _, want := range []string{
		"static:1 (linux/amd64): 1 critical, 1 high, 1 low",
		"static:1 (linux/arm64/v8): 1 medium",
		"static:1 (index sha256:iii, 2 platforms): 1 critical, 1 high, 1 medium, 1 low (worst critical)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(out[amd:arm], "CVE-2024-1") || strings.Contains(out[arm:], "CVE-2024-1") || !strings.Contains(out[arm:], "CVE-2024-9") {
		t.Errorf("findings under the wrong platform:\n%s", out)
	}
}

func TestWriteIndexJSON(t *testing.T) {
	idx, ps := twoPlatforms()
	var b bytes.Buffer
	if err := WriteIndex(&b, FormatJSON, idx, ps); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Index     Index             `json:"index"`
		Platforms []json.RawMessage `json:"platforms"`
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Index != idx || len(got.Platforms) != 2 {
		t.Fatalf("index %+v, %d platforms", got.Index, len(got.Platforms))
	}
	// Each platform is exactly what the single-image JSON holds.
	for i, p := range ps {
		var single bytes.Buffer
		if err := Write(&single, FormatJSON, p.Report); err != nil {
			t.Fatal(err)
		}
		var a, b any
		if err := json.Unmarshal(single.Bytes(), &a); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(got.Platforms[i], &b); err != nil {
			t.Fatal(err)
		}
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		if !bytes.Equal(ja, jb) {
			t.Errorf("platform %d differs from the single-image JSON:\n%s\n%s", i, ja, jb)
		}
	}
}

func TestWriteIndexSARIF(t *testing.T) {
	idx, ps := twoPlatforms()
	var b bytes.Buffer
	if err := WriteIndex(&b, FormatSARIF, idx, ps); err != nil {
		t.Fatal(err)
	}
	log, err := sarif.FromBytes(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(log.Runs) != 2 {
		t.Fatalf("%d runs, want one per platform", len(log.Runs))
	}
	for i, want := range []struct{ platform, digest string }{{"linux/amd64", "sha256:aaa"}, {"linux/arm64/v8", "sha256:bbb"}} {
		run := log.Runs[i]
		if run.Properties["platform"] != want.platform || run.Properties["digest"] != want.digest || run.Properties["index"] != "sha256:iii" {
			t.Errorf("run %d properties %v, want platform %s digest %s", i, run.Properties, want.platform, want.digest)
		}
	}
	if n := len(log.Runs[1].Results); n != 1 {
		t.Errorf("the arm64 run has %d results, want 1", n)
	}
}
