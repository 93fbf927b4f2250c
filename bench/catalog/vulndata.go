package main

import (
	"archive/zip"
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/vuln"
)

// The vulnerability data. The Go data is the shared OSV export; it rates nothing (no record has a
// severity), so the Debian packages get advisories of the bench's own, BENCH-DEB-*, rated by CVSS
// vectors, on the source packages Debian updated for security in bookworm (those whose version ends
// +deb12uN): each fixed at one of the updates, so the versions built before it are affected.
// Versions are scanned at build time against the Go records less one in -withheld (and the Debian
// ones); the re-scan reads the whole Go export, so that it finds what was published since.

// cvss are vectors of each severity, critical first.
var cvss = []string{
	"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", // 9.8 critical
	"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N", // 7.5 high
	"CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:L/I:L/A:N", // 5.4 medium
	"CVSS:3.1/AV:L/AC:H/PR:L/UI:N/S:U/C:L/I:N/A:N", // 2.5 low
}

// debianAdvisories writes the bench's Debian advisories as an OSV zip at path and returns how many.
func debianAdvisories(path string, debs []debPkg) (int, error) {
	f, err := os.Create(path) //nolint:gosec // G304: in the bench's work directory
	if err != nil {
		return 0, err
	}
	zw := zip.NewWriter(f)
	n := 0
	seen := map[string]bool{}
	for _, d := range debs {
		if len(d.srcs) < 3 || seen[d.source] {
			continue
		}
		seen[d.source] = true
		// One to three advisories per source, fixed at different updates.
		for k := range 1 + n%3 {
			fixedAt := 1 + (n*7+k*5)%(len(d.srcs)-1)
			n++
			rec := map[string]any{
				"schema_version": "1.6.0",
				"id":             fmt.Sprintf("BENCH-DEB-%04d", n),
				"published":      time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(n) * 24 * time.Hour).Format(time.RFC3339),
				"modified":       "2025-06-01T00:00:00Z",
				"summary":        fmt.Sprintf("bench advisory %d in %s", n, d.source),
				"details":        "A synthetic advisory of the catalog benchmark, rated by its CVSS vector.",
				"severity":       []map[string]string{{"type": "CVSS_V3", "score": cvss[(n*3)%len(cvss)]}},
				"affected": []map[string]any{{
					"package": map[string]string{"ecosystem": "Debian:12", "name": d.source},
					"ranges": []map[string]any{{"type": "ECOSYSTEM", "events": []map[string]string{
						{"introduced": "0"}, {"fixed": d.srcs[fixedAt]}}}},
				}},
				"references": []map[string]string{{"type": "WEB", "url": "https://ingot.build/bench/" + d.source}},
			}
			w, err := zw.Create(fmt.Sprintf("BENCH-DEB-%04d.json", n))
			if err != nil {
				return 0, err
			}
			if err := json.NewEncoder(w).Encode(rec); err != nil {
				return 0, err
			}
		}
	}
	if err := zw.Close(); err != nil {
		return 0, err
	}
	return n, f.Close()
}

// goKnown copies the Go OSV zip at src to dst without one advisory in every withheld (chosen by
// a hash of its id, the same every run): what builds knew. The export's records mostly carry no
// publication date, so "published since the builds" cannot be read from them.
func goKnown(src, dst string, withheld int) (kept, all int, err error) {
	zr, err := zip.OpenReader(src)
	if err != nil {
		return 0, 0, err
	}
	defer func() { _ = zr.Close() }()
	f, err := os.Create(dst) //nolint:gosec // G304: in the bench's work directory
	if err != nil {
		return 0, 0, err
	}
	zw := zip.NewWriter(f)
	for _, e := range zr.File {
		rc, err := e.Open()
		if err != nil {
			return 0, 0, err
		}
		data, err := io.ReadAll(rc)
		_ = rc.Close()
		if err != nil {
			return 0, 0, err
		}
		all++
		var r osvRecord
		if err := json.Unmarshal(data, &r); err != nil {
			return 0, 0, fmt.Errorf("%s: %w", e.Name, err)
		}
		if withheld > 0 && int(crc32.ChecksumIEEE([]byte(r.ID))%uint32(withheld)) == 0 { //nolint:gosec // G115: a small positive count
			continue
		}
		w, err := zw.Create(e.Name)
		if err != nil {
			return 0, 0, err
		}
		if _, err := w.Write(data); err != nil {
			return 0, 0, err
		}
		kept++
	}
	if err := zw.Close(); err != nil {
		return 0, 0, err
	}
	return kept, all, f.Close()
}

// importDB imports the OSV zips (source name → path) into a fresh database at dir.
func importDB(ctx context.Context, dir string, sources map[string]string) (*vuln.DB, error) {
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	db := &vuln.DB{Dir: dir}
	for name, path := range sources {
		if _, err := db.Import(ctx, path, vuln.ImportOptions{Name: name}); err != nil {
			return nil, fmt.Errorf("importing %s: %w", filepath.Base(path), err)
		}
	}
	return db, nil
}

// pkgRef names a package version as a finding does.
type pkgRef struct{ name, version string }

// matcher matches each distinct package once against a vulnerability database and hands out the
// findings of an inventory from what it matched: what a re-scan does to scan thousands of versions
// (and what the bench's builds do, to scan as a build would without matching 300 packages 10,000
// times).
type matcher struct {
	db *vuln.DB
	mu sync.Mutex
	// found holds each matched package's findings, without locations (those are the inventory's).
	found map[pkgRef][]evidence.Finding
}

func newMatcher(db *vuln.DB) *matcher {
	return &matcher{db: db, found: map[pkgRef][]evidence.Finding{}}
}

// prime matches the packages not matched yet, all in one vuln.DB.Match.
func (m *matcher) prime(ctx context.Context, pkgs []evidence.Package) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var todo []evidence.Package
	want := map[pkgRef]bool{}
	for _, p := range pkgs {
		k := pkgRef{p.Name, p.Version}
		if _, ok := m.found[k]; ok || want[k] {
			continue
		}
		want[k] = true
		p.Layer, p.Locations = "", nil
		todo = append(todo, p)
	}
	if len(todo) == 0 {
		return nil
	}
	fs, err := m.db.Match(ctx, &evidence.Inventory{Distro: &evidence.Distro{ID: "debian", VersionID: "12"}, Packages: todo})
	if err != nil {
		return err
	}
	for k := range want {
		m.found[k] = nil
	}
	for _, f := range fs {
		if f.Package == nil {
			continue
		}
		k := pkgRef{f.Package.Name, f.Package.Version}
		f.Locations = nil
		m.found[k] = append(m.found[k], f)
	}
	return nil
}

// findings are the findings of an inventory's packages (primed), located where the inventory has
// each package, as vuln.DB.Match locates them.
func (m *matcher) findings(pkgs []evidence.Package) []evidence.Finding {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []evidence.Finding
	for _, p := range pkgs {
		for _, f := range m.found[pkgRef{p.Name, p.Version}] {
			var locs []evidence.Location
			for _, path := range p.Locations {
				locs = append(locs, evidence.Location{Layer: p.Layer, Path: path})
			}
			if len(p.Locations) == 0 && p.Layer != "" {
				locs = append(locs, evidence.Location{Layer: p.Layer})
			}
			f.Locations = locs
			out = append(out, f)
		}
	}
	return out
}
