package vuln

import (
	"fmt"
	"sort"
	"strings"

	"github.com/ingot-build/ingot/pkg/evidence"
)

// Coverage says, for each ecosystem of the inventory's packages, which imported data they are checked
// against: the sources with records in the ecosystem or in the release-less one whose advisories apply
// to it ("Debian" for "Debian:12"), with their record counts. An ecosystem with no such source, and
// packages that no OSV ecosystem names (Debian packages of a derivative distribution, say), are listed
// with the reason they are not checked: a scan finds nothing there because it did not look. Entries
// are sorted by ecosystem. Only the index headers are read.
func (db *DB) Coverage(inv *evidence.Inventory) ([]evidence.Coverage, error) {
	paths, err := db.sourcePaths()
	if err != nil {
		return nil, err
	}
	var headers []indexHeader
	for _, p := range paths {
		x, err := openIndex(p)
		if err != nil {
			return nil, err
		}
		headers = append(headers, x.header)
		x.Close()
	}
	byEco := map[string]*evidence.Coverage{}
	for i := range inv.Packages {
		p := &inv.Packages[i]
		eco := inventoryEcosystem(inv, p)
		key, reason := eco, ""
		if eco == "" {
			key, reason = p.Type, noEcosystem(inv, p)
			if key == "" {
				key = "untyped"
			}
		}
		c := byEco[key]
		if c == nil {
			c = &evidence.Coverage{Ecosystem: key, Reason: reason}
			byEco[key] = c
			if eco != "" {
				c.Sources = sourcesFor(headers, eco)
				if len(c.Sources) == 0 {
					c.Reason = noData(eco, len(headers))
				}
			}
		}
		c.Packages++
	}
	out := make([]evidence.Coverage, 0, len(byEco))
	for _, c := range byEco {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Ecosystem < out[j].Ecosystem })
	return out, nil
}

// sourcesFor lists the sources' data that applies to packages of ecosystem eco.
func sourcesFor(headers []indexHeader, eco string) []evidence.CoverageSource {
	var out []evidence.CoverageSource
	for _, h := range headers {
		for _, look := range lookupEcosystems(eco) {
			for _, s := range h.Ecosystems {
				if s.Name == look {
					out = append(out, evidence.CoverageSource{Name: h.Name, Ecosystem: s.Name, Records: s.Records})
				}
			}
		}
	}
	return out
}

// noData says why an ecosystem was not checked.
func noData(eco string, sources int) string {
	if sources == 0 {
		return "no vulnerability data imported"
	}
	return "no data for " + strings.Join(lookupEcosystems(eco), " or ")
}

// noEcosystem says why a package has no OSV ecosystem to be checked in.
func noEcosystem(inv *evidence.Inventory, p *evidence.Package) string {
	if inv.Distro != nil && inv.Distro.ID != "" && (p.Type == evidence.TypeDeb || p.Type == evidence.TypeAPK) {
		return fmt.Sprintf("no OSV ecosystem for %s packages of %s", p.Type, inv.Distro.ID)
	}
	return fmt.Sprintf("no OSV ecosystem for %s packages", p.Type)
}
