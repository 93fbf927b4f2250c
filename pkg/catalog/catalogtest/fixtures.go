package catalogtest

import (
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/evidence"
)

// t0 is when the fixtures happen: microseconds included, as backends keep them.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 123456000, time.UTC)

// digest is a made-up manifest digest named by seed.
func digest(seed string) string {
	sum := sha256.Sum256([]byte(seed))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func deb(name, version, source, sourceVersion string) evidence.Package {
	return evidence.Package{Name: name, Version: version, Type: evidence.TypeDeb, Arch: "amd64", Ecosystem: "Debian:12",
		Source: source, SourceVersion: sourceVersion, Layer: digest("layer-base"),
		PURL: "pkg:deb/debian/" + name + "@" + version + "?arch=amd64&distro=debian-12"}
}

func deb11(name, version string) evidence.Package {
	p := deb(name, version, "", "")
	p.Ecosystem, p.PURL = "Debian:11", "pkg:deb/debian/"+name+"@"+version+"?arch=amd64&distro=debian-11"
	return p
}

func gomod(module, version string) evidence.Package {
	return evidence.Package{Name: module, Version: version, Type: evidence.TypeGolang, Ecosystem: "Go",
		PURL: "pkg:golang/" + module + "@" + version, Layer: digest("layer-app")}
}

func npm(name, version string) evidence.Package {
	return evidence.Package{Name: name, Version: version, Type: evidence.TypeNPM, Ecosystem: "npm",
		PURL: "pkg:npm/" + name + "@" + version, Layer: digest("layer-app")}
}

func pypi(name, version string) evidence.Package {
	return evidence.Package{Name: name, Version: version, Type: evidence.TypePyPI, Ecosystem: "PyPI",
		PURL: "pkg:pypi/" + name + "@" + version, Layer: digest("layer-app")}
}

func vulnFinding(id string, sev evidence.Severity, p evidence.Package, fixed string) evidence.Finding {
	return evidence.Finding{Kind: evidence.KindVulnerability, ID: id, Severity: sev, Status: evidence.StatusAffected,
		Title: id + " in " + p.Name, FixedVersion: fixed,
		Package: &evidence.PackageRef{Name: p.Name, Version: p.Version, Type: p.Type, PURL: p.PURL, Source: p.Source}}
}

// basePackages are what every fixture image ships.
func basePackages() []evidence.Package {
	return []evidence.Package{
		deb("libc6", "2.36-9+deb12u4", "glibc", "2.36-9+deb12u4"),
		deb("libssl3", "3.0.11-1~deb12u2", "openssl", "3.0.11-1~deb12u2"),
		deb("tzdata", "2024a-0+deb12u1", "", ""),
	}
}

// evidenceFor is the evidence of one platform image: an inventory of pkgs and a scan with findings.
func evidenceFor(dig string, pkgs []evidence.Package, findings []evidence.Finding) *evidence.Set {
	return &evidence.Set{
		Inventory: &evidence.Inventory{Image: evidence.Image{Digest: dig, OS: "linux", Arch: "amd64"},
			Distro: &evidence.Distro{ID: "debian", VersionID: "12"}, Packages: pkgs},
		Vulns: &evidence.Report{Image: evidence.Image{Digest: dig}, Tool: "ingot scan", Findings: findings},
		Scan: &evidence.ScanRecord{Scanner: "ingot test", DBURI: "file:///fixture", DBVersion: "2025-03-01",
			Started: t0.Add(-time.Minute), Finished: t0.Add(-30 * time.Second)},
		Secrets:    evidence.Report{Tool: "ingot secrets", Findings: []evidence.Finding{}},
		Lint:       evidence.Report{Tool: "ingot lint", Findings: []evidence.Finding{}},
		Provenance: []byte(`{"buildDefinition":{"buildType":"https://ingot.build/v1"},"runDetails":{"builder":{"id":"ingot"}}}`),
	}
}

// version is a single-platform version of image on line, its digest named by seed.
func version(image, line, seed string, pkgs []evidence.Package, findings ...evidence.Finding) *catalog.Version {
	d := digest(seed)
	return &catalog.Version{
		Image: image, Line: line, Kind: catalog.KindContainer, Digest: d,
		Platforms: []catalog.Platform{{OS: "linux", Arch: "amd64", Digest: d, Evidence: evidenceFor(d, pkgs, findings)}},
		Spec:      []byte("name: " + image + "\nversion: " + line + "\n"),
		Lock:      []byte("# lock of " + seed + "\n"),
		Reason:    "ingot build",
		Built:     t0,
	}
}

// multiVersion is a two-platform version (an index): amd64 ships pkgs, arm64 pkgs and armOnly.
func multiVersion(image, line, seed string, pkgs, armOnly []evidence.Package) *catalog.Version {
	v := version(image, line, seed, pkgs)
	amd, arm := digest(seed+"/amd64"), digest(seed+"/arm64")
	v.Platforms = []catalog.Platform{
		{OS: "linux", Arch: "amd64", Digest: amd, Evidence: evidenceFor(amd, pkgs, nil)},
		{OS: "linux", Arch: "arm64", Variant: "v8", Digest: arm, Evidence: evidenceFor(arm, append(append([]evidence.Package{}, pkgs...), armOnly...), nil)},
	}
	return v
}
