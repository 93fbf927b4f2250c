package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// spdxPackages lists "name@version" of an SPDX JSON document's packages that have a purl (the
// image itself, whose purl is pkg:oci and whose name each tool spells its own way, and files are
// left out).
func spdxPackages(doc []byte) ([]string, error) {
	var d struct {
		Packages []struct {
			Name         string `json:"name"`
			VersionInfo  string `json:"versionInfo"`
			ExternalRefs []struct {
				ReferenceType    string `json:"referenceType"`
				ReferenceLocator string `json:"referenceLocator"`
			} `json:"externalRefs"`
		} `json:"packages"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, err
	}
	var out []string
	for _, p := range d.Packages {
		for _, r := range p.ExternalRefs {
			if r.ReferenceType == "purl" && !strings.HasPrefix(r.ReferenceLocator, "pkg:oci/") {
				out = append(out, p.Name+"@"+p.VersionInfo)
				break
			}
		}
	}
	return uniq(out), nil
}

// goIDs keeps the Go advisory IDs (GO-...) of a list of IDs and aliases.
func goIDs(ids []string) []string {
	var out []string
	for _, id := range ids {
		if strings.HasPrefix(id, "GO-") {
			out = append(out, id)
		}
	}
	return uniq(out)
}

func ingotIDs(data []byte) ([]string, error) {
	var r struct {
		Findings []struct {
			ID      string   `json:"id"`
			Aliases []string `json:"aliases"`
		} `json:"findings"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("ingot scan output: %w", err)
	}
	var ids []string
	for _, f := range r.Findings {
		ids = append(ids, f.ID)
		ids = append(ids, f.Aliases...)
	}
	return goIDs(ids), nil
}

func osvScannerIDs(data []byte) ([]string, error) {
	var r struct {
		Results []struct {
			Packages []struct {
				Vulnerabilities []struct {
					ID      string   `json:"id"`
					Aliases []string `json:"aliases"`
				} `json:"vulnerabilities"`
			} `json:"packages"`
		} `json:"results"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("osv-scanner output: %w", err)
	}
	var ids []string
	for _, res := range r.Results {
		for _, p := range res.Packages {
			for _, v := range p.Vulnerabilities {
				ids = append(ids, v.ID)
				ids = append(ids, v.Aliases...)
			}
		}
	}
	return goIDs(ids), nil
}

// govulncheckIDs reads govulncheck's JSON stream and keeps the advisories of its findings.
func govulncheckIDs(data []byte) ([]string, error) {
	dec := json.NewDecoder(bufio.NewReader(bytes.NewReader(data)))
	var ids []string
	for dec.More() {
		var m struct {
			Finding *struct {
				OSV string `json:"osv"`
			} `json:"finding"`
		}
		if err := dec.Decode(&m); err != nil {
			return nil, fmt.Errorf("govulncheck output: %w", err)
		}
		if m.Finding != nil {
			ids = append(ids, m.Finding.OSV)
		}
	}
	return goIDs(ids), nil
}

func uniq(s []string) []string {
	sort.Strings(s)
	return slices.Compact(s)
}
