package sbom

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ingot-build/ingot/pkg/evidence"
)

// twoPlatforms is the fixture inventory as an amd64 image and as an arm64 one: the arch-specific
// .debs differ, while tzdata (arch all) and the Go, npm and Python packages have the same package
// URL in both.
func twoPlatforms(t *testing.T) (evidence.Image, []*evidence.Inventory) {
	amd := loadInventory(t, "inventory.json")
	arm := loadInventory(t, "inventory.json")
	arm.Image.Arch = "arm64"
	arm.Image.Digest = "sha256:" + strings.Repeat("b", 64)
	for i := range arm.Packages {
		p := &arm.Packages[i]
		if p.Arch == "amd64" {
			p.Arch = "arm64"
			p.PURL = ""
			finish(p, arm.Distro)
		}
	}
	index := evidence.Image{Ref: "registry.example.org/team/app:1.0", Digest: "sha256:" + strings.Repeat("c", 64)}
	return index, []*evidence.Inventory{amd, arm}
}

// TestIndexDocuments: one document for an index validates, keeps every element distinct (a package
// in both images is one element per image), says which image holds what, and reads back with every
// platform's packages.
func TestIndexDocuments(t *testing.T) {
	opt := DocOptions{Created: time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC), ToolVersion: "1.2.3"}
	index, invs := twoPlatforms(t)
	want := map[string]bool{}
	for _, inv := range invs {
		for _, p := range inv.Packages {
			want[p.PURL] = true
		}
	}
	if !want["pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=arm64&distro=debian-12&upstream=glibc"] {
		t.Fatalf("the arm64 fixture lacks its libc6: %v", want)
	}
	for _, f := range []struct {
		name     string
		render   func(evidence.Image, []*evidence.Inventory, DocOptions) ([]byte, error)
		validate func([]byte) error
	}{{"spdx", SPDXIndex, ValidateSPDX}, {"cyclonedx", CycloneDXIndex, ValidateCycloneDX}} {
		t.Run(f.name, func(t *testing.T) {
			doc, err := f.render(index, invs, opt)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.validate(doc); err != nil {
				t.Fatalf("the index document does not validate: %v", err)
			}
			again, _ := f.render(index, invs, opt)
			if string(again) != string(doc) {
				t.Error("two renderings of one index differ")
			}
			if f.name == "spdx" {
				checkSPDXIndex(t, doc, index, invs)
			} else {
				checkCDXIndex(t, doc, index, invs)
			}
			back, err := Decode(doc)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]bool{}
			for _, p := range back.Packages {
				got[p.PURL] = true
			}
			for purl := range want {
				if !got[purl] {
					t.Errorf("decoded document lacks %s", purl)
				}
			}
			if len(got) != len(want) {
				t.Errorf("decoded %d distinct packages, want %d", len(got), len(want))
			}
			if back.Image.Digest != index.Digest || len(back.Excluded) != 2 {
				t.Errorf("decoded image %+v, exclusions %v: want the index, and each exclusion once", back.Image, back.Excluded)
			}
		})
	}
}

func checkSPDXIndex(t *testing.T, doc []byte, index evidence.Image, invs []*evidence.Inventory) {
	t.Helper()
	var d struct {
		Packages []struct {
			SPDXID, VersionInfo, PrimaryPackagePurpose string
		}
		Relationships []struct {
			SpdxElementID, RelatedSpdxElement, RelationshipType string
		}
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatal(err)
	}
	byVersion := map[string]string{} // container digest -> SPDXID
	for _, p := range d.Packages {
		if p.PrimaryPackagePurpose == "CONTAINER" {
			byVersion[p.VersionInfo] = p.SPDXID
		}
	}
	contains := map[string]int{}
	var described string
	for _, r := range d.Relationships {
		switch r.RelationshipType {
		case "DESCRIBES":
			described = r.RelatedSpdxElement
		case "CONTAINS":
			contains[r.SpdxElementID]++
		}
	}
	if described == "" || described != byVersion[index.Digest] {
		t.Errorf("the document describes %q, want the index %q", described, byVersion[index.Digest])
	}
	if contains[described] != len(invs) {
		t.Errorf("the index CONTAINS %d elements, want its %d images", contains[described], len(invs))
	}
	for _, inv := range invs {
		id := byVersion[inv.Image.Digest]
		if want := len(inv.Packages) + 1; id == "" || contains[id] != want {
			t.Errorf("image %s (%s) CONTAINS %d elements, want its %d packages and its distro", inv.Image.Digest, id, contains[id], want-1)
		}
	}
}

func checkCDXIndex(t *testing.T, doc []byte, index evidence.Image, invs []*evidence.Inventory) {
	t.Helper()
	type comp struct {
		BOMRef     string `json:"bom-ref"`
		Type       string
		Version    string
		Components []comp
	}
	var d struct {
		Metadata   struct{ Component comp }
		Components []comp
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatal(err)
	}
	if d.Metadata.Component.Version != index.Digest || d.Metadata.Component.Type != "container" {
		t.Errorf("metadata.component %+v, want the index", d.Metadata.Component)
	}
	refs := map[string]bool{d.Metadata.Component.BOMRef: true}
	if len(d.Components) != len(invs) {
		t.Fatalf("%d top-level components, want one per image", len(d.Components))
	}
	for i, c := range d.Components {
		if c.Type != "container" || c.Version != invs[i].Image.Digest || len(c.Components) != len(invs[i].Packages)+1 {
			t.Errorf("component %d: %s %s with %d components, want image %s with its %d packages and distro", i, c.Type, c.Version, len(c.Components), invs[i].Image.Digest, len(invs[i].Packages))
		}
		for _, cc := range append([]comp{c}, c.Components...) {
			if refs[cc.BOMRef] {
				t.Errorf("bom-ref %s used twice", cc.BOMRef)
			}
			refs[cc.BOMRef] = true
		}
	}
}
