package sbom_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ingot-build/ingot/internal/cdxschema"
	"github.com/ingot-build/ingot/internal/debtest"
	"github.com/ingot-build/ingot/internal/testrepo"
	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/lock"
	"github.com/ingot-build/ingot/pkg/pipeline"
	"github.com/ingot-build/ingot/pkg/sbom"
	"github.com/ingot-build/ingot/pkg/spec"
)

// buildFixture locks and builds a small Debian image from a signed fixture repository, as
// `ingot lock && ingot build` do, and returns the lock and the image.
func buildFixture(t *testing.T) (*pipeline.Result, *lock.Lock) {
	t.Helper()
	repo := testrepo.New(t, testrepo.Options{Packages: []debtest.Package{
		{Name: "base-files", Version: "12.4+deb12u5", Arch: "amd64", Files: []debtest.File{
			{Path: "usr/lib/os-release", Body: []byte("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n")},
			{Path: "etc/os-release", Symlink: "../usr/lib/os-release"},
		}},
		{Name: "libfoo1", Version: "1:2.0~rc1-1+b1", Arch: "amd64", Source: "foo (1:2.0~rc1-1)", Files: []debtest.File{
			{Path: "usr/lib/x86_64-linux-gnu/libfoo.so.1", Body: []byte("not really a library")},
		}},
		{Name: "tzdata", Version: "2024a-0+deb12u1", Arch: "all", Depends: "debconf (>= 0.5) | debconf-2.0", Files: []debtest.File{
			{Path: "usr/share/zoneinfo/UTC", Body: []byte("TZif2 fake")},
		}},
		{Name: "debconf", Version: "1.5.82", Arch: "all", Files: []debtest.File{{Path: "usr/bin/debconf", Body: []byte("#!/bin/false\n")}}},
		{Name: "app", Version: "1.0-1", Arch: "amd64", Depends: "libfoo1, tzdata", Files: []debtest.File{
			{Path: "usr/bin/app", Mode: 0o755, Body: []byte("app")},
		}},
	}})
	dir := t.TempDir()
	body := fmt.Sprintf("name: fixture\nversion: \"1.0\"\nrepositories:\n  - url: %s\n    suite: stable\n    keyring: %s\n"+
		"packages: [base-files, app]\nexclude: [debconf]\nlayers: 3\n", repo.URL, repo.Keyring)
	p := filepath.Join(dir, "ingot.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := spec.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	opt := pipeline.Options{DataDir: t.TempDir()}
	l, err := pipeline.Lock(context.Background(), s, opt)
	if err != nil {
		t.Fatal(err)
	}
	res, err := pipeline.Build(context.Background(), s, l, opt)
	if err != nil {
		t.Fatal(err)
	}
	return res, l
}

// TestIngotBuild reads the inventory of an image ingot built from known .debs: the Debian package set equals what
// the lock installed (name, version, architecture), with the lock's sha256 and exclusions, and both
// documents validate and decode back to that set.
func TestIngotBuild(t *testing.T) {
	res, l := buildFixture(t)
	img := res.Artifact.Image
	inv, err := sbom.Inventory(context.Background(), img, sbom.Options{Ref: "fixture:1.0"})
	if err != nil {
		t.Fatal(err)
	}
	sbom.WithLock(inv, l)

	type nva struct{ name, version, arch, sha string }
	var got, want []nva
	for _, p := range inv.Packages {
		if p.Type != evidence.TypeDeb {
			t.Errorf("unexpected %s package %s", p.Type, p.PURL)
		}
		got = append(got, nva{p.Name, p.Version, p.Arch, p.SHA256})
	}
	for _, p := range l.Archs["amd64"].Packages {
		want = append(want, nva{p.Name, p.Version, p.Architecture, p.SHA256})
	}
	slices.SortFunc(want, func(a, b nva) int { return strings.Compare(a.name, b.name) })
	if !reflect.DeepEqual(got, want) {
		t.Errorf("read %v\nlock installed %v", got, want)
	}
	if len(inv.Excluded) != 1 || inv.Excluded[0].Name != "debconf" || !slices.Equal(inv.Excluded[0].RequiredBy, []string{"tzdata"}) {
		t.Errorf("excluded = %+v, want debconf required by tzdata", inv.Excluded)
	}
	if inv.Distro == nil || inv.Distro.ID != "debian" || inv.Distro.VersionID != "12" {
		t.Errorf("distro = %+v", inv.Distro)
	}
	layers, _ := img.Layers()
	var diffIDs []string
	for _, layer := range layers {
		h, _ := layer.DiffID()
		diffIDs = append(diffIDs, h.String())
	}
	for _, p := range inv.Packages {
		if !slices.Contains(diffIDs, p.Layer) {
			t.Errorf("%s: layer %q is not one of the image's", p.Name, p.Layer)
		}
		if p.Ecosystem != "Debian:12" {
			t.Errorf("%s: ecosystem %q", p.Name, p.Ecosystem)
		}
		if p.Name == "libfoo1" && p.PURL != "pkg:deb/debian/libfoo1@1:2.0~rc1-1%2Bb1?arch=amd64&distro=debian-12&upstream=foo%401:2.0~rc1-1" {
			t.Errorf("libfoo1 purl = %s", p.PURL)
		}
	}

	opt := sbom.DocOptions{ToolVersion: "test"}
	for name, f := range map[string]struct {
		render   func(*evidence.Inventory, sbom.DocOptions) ([]byte, error)
		validate func([]byte) error
	}{"spdx": {sbom.SPDX, sbom.ValidateSPDX}, "cyclonedx": {sbom.CycloneDX, func(doc []byte) error { return cdxschema.Validate(doc, sbom.Schemas()) }}} {
		doc, err := f.render(inv, opt)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.validate(doc); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		back, err := sbom.Decode(doc)
		if err != nil {
			t.Fatal(err)
		}
		var decoded []nva
		for _, p := range back.Packages {
			decoded = append(decoded, nva{p.Name, p.Version, p.Arch, p.SHA256})
		}
		if !reflect.DeepEqual(decoded, want) {
			t.Errorf("%s decodes to %v\nwant %v", name, decoded, want)
		}
		again, _ := f.render(inv, opt)
		if string(again) != string(doc) {
			t.Errorf("%s: two renderings differ", name)
		}
	}

	// The same image read twice gives byte-identical documents.
	inv2, err := sbom.Inventory(context.Background(), img, sbom.Options{Ref: "fixture:1.0"})
	if err != nil {
		t.Fatal(err)
	}
	sbom.WithLock(inv2, l)
	a, _ := sbom.SPDX(inv, opt)
	b, _ := sbom.SPDX(inv2, opt)
	if string(a) != string(b) {
		t.Error("the same image twice gives different SPDX documents")
	}
}
