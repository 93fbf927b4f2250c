package server

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/ingot-build/ingot/internal/debtest"
	"github.com/ingot-build/ingot/internal/testrepo"
	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/pipeline"
	"github.com/ingot-build/ingot/pkg/spec"
	"github.com/ingot-build/ingot/pkg/store"
)

// TestPublishedByPipeline: a version that pipeline.Publish built from the fixture repository (what
// ingot build records) is served with its real evidence: the inventory in the version, the SBOMs,
// provenance, spec and lock as recorded, and it answers the exposure query.
func TestPublishedByPipeline(t *testing.T) {
	repo := testrepo.New(t, testrepo.Options{Packages: []debtest.Package{
		{Name: "base-files", Version: "12.4", Arch: "all", Files: []debtest.File{{Path: "etc/debian_version", Body: []byte("12.4\n")}}},
		{Name: "hello-data", Version: "1.0", Arch: "all", Depends: "base-files", Files: []debtest.File{{Path: "usr/share/hello/greeting", Body: []byte("hi\n")}}},
	}})
	ctx := context.Background()
	data := t.TempDir()
	cat, err := store.Store{Root: data}.Catalog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cat.Close() })
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ingot.yaml"), []byte(`name: app
version: "1.0"
repositories: [{url: "`+repo.URL+`", suite: stable, keyring: "`+repo.Keyring+`"}]
packages: [hello-data]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := spec.Load(filepath.Join(dir, "ingot.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	opt := pipeline.PublishOptions{Options: pipeline.Options{DataDir: data}, Catalog: cat}
	l, err := pipeline.Lock(ctx, s, opt.Options)
	if err != nil {
		t.Fatal(err)
	}
	v, err := pipeline.Publish(ctx, s, l, opt)
	if err != nil {
		t.Fatal(err)
	}

	e := newEnv(t, cat)
	var d versionDetail
	e.get("/v1/images/app/versions/1.0-r1", &d)
	var names []string
	for _, p := range d.Platforms[0].Evidence.Inventory.Packages {
		names = append(names, p.Name)
	}
	if d.Digest != v.Digest || !slices.Contains(names, "hello-data") || !slices.Contains(names, "base-files") {
		t.Errorf("app@1.0-r1: %s with %v", d.Digest, names)
	}
	recorded := map[string][]byte{docSpec: v.Spec, docLock: v.Lock, docSPDX: v.Platforms[0].Evidence.SPDX,
		docCycloneDX: v.Platforms[0].Evidence.CycloneDX, docProvenance: v.Platforms[0].Evidence.Provenance}
	if len(d.Documents) != len(recorded) {
		t.Errorf("documents: %+v", d.Documents)
	}
	for _, l := range d.Documents {
		r := e.get(l.Href, nil)
		if string(r.body) != string(recorded[l.Name]) {
			t.Errorf("%s differs from the record", l.Href)
		}
	}
	var sbom struct {
		SPDXVersion string `json:"spdxVersion"`
	}
	if json.Unmarshal(recorded[docSPDX], &sbom) != nil || sbom.SPDXVersion != "SPDX-2.3" {
		t.Errorf("the SPDX document: %.200s", recorded[docSPDX])
	}
	var es []catalog.Exposure
	e.get("/v1/exposure?package=hello-data&range="+url.QueryEscape(">=1.0"), &es)
	if len(es) != 1 || es[0].Tag != "1.0-r1" || es[0].Status != catalog.StatusActive {
		t.Errorf("exposure of hello-data: %+v", es)
	}
	var page EventPage
	e.get("/v1/events", &page)
	if len(page.Events) != 1 || page.Events[0].Kind != catalog.EventPublished || page.Events[0].Digest != v.Digest {
		t.Errorf("events: %+v", page)
	}
}
