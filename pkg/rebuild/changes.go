package rebuild

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/lock"
	"github.com/ingot-build/ingot/pkg/pipeline"
	"github.com/ingot-build/ingot/pkg/vuln"
)

// Change is one package that differs between two locks: a new version (Old and New set), a
// package added (Old empty) or one gone (New empty).
type Change struct {
	Name string `json:"name"`
	Old  string `json:"old,omitempty"`
	New  string `json:"new,omitempty"`
	// Fixes are the advisories the new version fixes, by the vulnerability data.
	Fixes []string `json:"fixes,omitempty"`
}

func (c Change) String() string {
	var s string
	switch {
	case c.Old == "":
		s = c.Name + " " + c.New + " added"
	case c.New == "":
		s = c.Name + " " + c.Old + " removed"
	default:
		s = c.Name + " " + c.Old + " → " + c.New
	}
	if len(c.Fixes) > 0 {
		s += " (fixes " + strings.Join(c.Fixes, ", ") + ")"
	}
	return s
}

// diffLocks lists the packages whose version differs between two locks, over every arch (a change
// the archs share is listed once), by name.
func diffLocks(old, cur *lock.Lock) []Change {
	type key struct{ name, old, cur string }
	seen := map[key]bool{}
	var out []Change
	archs := map[string]bool{}
	for a := range old.Archs {
		archs[a] = true
	}
	for a := range cur.Archs {
		archs[a] = true
	}
	for a := range archs {
		was, is := versionsOf(old.Archs[a]), versionsOf(cur.Archs[a])
		names := map[string]bool{}
		for n := range was {
			names[n] = true
		}
		for n := range is {
			names[n] = true
		}
		for n := range names {
			if was[n] == is[n] {
				continue
			}
			k := key{n, was[n], is[n]}
			if !seen[k] {
				seen[k] = true
				out = append(out, Change{Name: n, Old: was[n], New: is[n]})
			}
		}
	}
	slices.SortFunc(out, func(a, b Change) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.Old+" "+a.New, b.Old+" "+b.New)
	})
	return out
}

func versionsOf(c *lock.Contents) map[string]string {
	out := map[string]string{}
	if c == nil {
		return out
	}
	for _, p := range c.Packages {
		out[p.Name] = p.Version
	}
	return out
}

// ecosystemOf is the OSV ecosystem of a lock's Debian packages, as the image built from it records
// them: the build writes os-release from the first repository's Release (Debian, its version), and
// OSV names Debian releases by their major version.
func ecosystemOf(l *lock.Lock) string {
	if len(l.Repositories) == 0 {
		return "Debian"
	}
	return releaseEcosystem(l.Repositories[0].Version)
}

// releaseEcosystem is the OSV ecosystem of a Debian release version ("12.5" is "Debian:12").
func releaseEcosystem(version string) string {
	major, _, _ := strings.Cut(strings.TrimSpace(version), ".")
	if major == "" {
		return "Debian"
	}
	return "Debian:" + major
}

// lockInventory is a lock's packages as the vulnerability matcher reads them (distinct, every arch).
func lockInventory(l *lock.Lock) *evidence.Inventory {
	eco := ecosystemOf(l)
	inv := &evidence.Inventory{}
	for _, p := range l.Packages() {
		inv.Packages = append(inv.Packages, evidence.Package{
			Name: p.Name, Version: p.Version, Type: evidence.TypeDeb, Arch: p.Architecture,
			Source: p.Source, SourceVersion: p.SourceVersion, Ecosystem: eco,
		})
	}
	return inv
}

// addFixes names, for each new version, the advisories affecting the old one that it fixes: those
// whose fixed version it reaches, compared as the advisory's ecosystem orders versions (the source
// package's version, which Debian advisories name). Without vulnerability data nothing is named.
func addFixes(ctx context.Context, db *vuln.DB, old, cur *lock.Lock, changes []Change) ([]Change, error) {
	if db == nil || len(changes) == 0 {
		return changes, nil
	}
	fs, err := db.Match(ctx, lockInventory(old))
	if errors.Is(err, vuln.ErrNoData) {
		return changes, nil
	}
	if err != nil {
		return changes, err
	}
	eco := ecosystemOf(cur)
	newPkgs := map[string]lock.Package{}
	for _, p := range cur.Packages() {
		newPkgs[p.Name] = p
	}
	for i := range changes {
		c := &changes[i]
		np, ok := newPkgs[c.Name]
		if c.Old == "" || !ok {
			continue
		}
		for _, f := range fs {
			if f.Package == nil || f.Package.Name != c.Name || f.Package.Version != c.Old || f.FixedVersion == "" {
				continue
			}
			name, v := c.Name, np.Version
			if f.Package.Source != "" {
				name = f.Package.Source
				if np.SourceVersion != "" {
					v = np.SourceVersion
				}
			}
			if cmp, err := vuln.CompareVersions(eco, name, v, f.FixedVersion); err == nil && cmp >= 0 && !slices.Contains(c.Fixes, f.ID) {
				c.Fixes = append(c.Fixes, f.ID)
			}
		}
		slices.Sort(c.Fixes)
	}
	return changes, nil
}

// upstreamPackages lists every package version of the fetched repositories, as catalog.Upstream
// records them: each binary package, and its source package (advisories name sources, and their
// fixed versions are source versions).
func upstreamPackages(repos []pipeline.Repository) []catalog.UpstreamPackage {
	var out []catalog.UpstreamPackage
	for _, r := range repos {
		eco := releaseEcosystem(r.Release.Version)
		for _, pkgs := range r.Packages {
			for _, p := range pkgs {
				out = append(out, catalog.UpstreamPackage{Ecosystem: eco, Name: p.Name, Source: p.Source, Version: p.Version.String()})
				if p.Source != "" && (p.Source != p.Name || p.SourceVersion.String() != p.Version.String()) {
					out = append(out, catalog.UpstreamPackage{Ecosystem: eco, Name: p.Source, Source: p.Source, Version: p.SourceVersion.String()})
				}
			}
		}
	}
	return out
}

// describe says why a rebuild is due, in one line.
func describe(parts ...string) string {
	var keep []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			keep = append(keep, p)
		}
	}
	return strings.Join(keep, "; ")
}

// upstreamReason is the part of a reason that names the package changes.
func upstreamReason(changes []Change) string {
	if len(changes) == 0 {
		return ""
	}
	var parts []string
	for _, c := range changes {
		parts = append(parts, c.String())
	}
	return "upstream: " + strings.Join(parts, ", ")
}

// baseReason says that a base tag moved.
func baseReason(ref, from, to string) string {
	return fmt.Sprintf("base %s moved from %s to %s", ref, short(from), short(to))
}

// short abbreviates a digest for people.
func short(d string) string {
	if _, hex, ok := strings.Cut(d, ":"); ok && len(hex) > 12 {
		return d[:len(d)-len(hex)] + hex[:12]
	}
	return d
}
