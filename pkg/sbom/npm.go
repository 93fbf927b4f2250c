package sbom

import (
	"encoding/json"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	"github.com/ingot-build/ingot/pkg/evidence"
)

const (
	nodeModules     = "node_modules/"
	packageJSON     = "package.json"
	packageLockJSON = "package-lock.json"
)

// npmReader reads installed packages (node_modules/<name>/package.json, with scoped names
// node_modules/@scope/name/package.json) and npm lockfiles outside node_modules.
type npmReader struct{}

func (npmReader) wants(p string) bool {
	switch path.Base(p) {
	case packageJSON:
		_, ok := installedNPMName(p)
		return ok
	case packageLockJSON:
		return !strings.HasPrefix(p, nodeModules) && !strings.Contains(p, "/"+nodeModules)
	}
	return false
}

// installedNPMName is the package a node_modules/.../package.json describes: exactly one directory
// (two for a scope) below the last node_modules, so a package's own fixtures and nested manifests
// (node_modules/x/test/package.json) are not taken for installed packages.
func installedNPMName(p string) (string, bool) {
	i := strings.LastIndex(p, nodeModules)
	if i < 0 || (i > 0 && p[i-1] != '/') {
		return "", false
	}
	dir := strings.TrimSuffix(p[i+len(nodeModules):], "/"+packageJSON)
	parts := strings.Split(dir, "/")
	switch {
	case len(parts) == 1 && parts[0] != "" && parts[0][0] != '.' && parts[0][0] != '@':
		return dir, true
	case len(parts) == 2 && len(parts[0]) > 1 && parts[0][0] == '@' && parts[1] != "":
		return dir, true
	}
	return "", false
}

// npmLicense is package.json's license: an SPDX expression string, or (deprecated) {"type": "MIT"}.
type npmLicense string

func (l *npmLicense) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*l = npmLicense(s)
		return nil
	}
	var o struct{ Type string }
	if json.Unmarshal(b, &o) == nil {
		*l = npmLicense(o.Type)
	}
	return nil // an unreadable license is not worth losing the package over
}

type npmManifest struct {
	Name     string       `json:"name"`
	Version  string       `json:"version"`
	License  npmLicense   `json:"license"`
	Licenses []npmLicense `json:"licenses"` // deprecated array form
}

func (m npmManifest) licenses() []string {
	if m.License != "" {
		return []string{string(m.License)}
	}
	var out []string
	for _, l := range m.Licenses {
		if l != "" {
			out = append(out, string(l))
		}
	}
	return out
}

func (npmReader) parse(p string, r io.Reader) ([]evidence.Package, error) {
	if path.Base(p) == packageLockJSON {
		return parseNPMLock(r)
	}
	var m npmManifest
	if err := json.NewDecoder(r).Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrEvidence, err)
	}
	if m.Name == "" || m.Version == "" {
		return nil, fmt.Errorf("%w: package.json without name or version", ErrEvidence)
	}
	return []evidence.Package{{Name: m.Name, Version: m.Version, Type: evidence.TypeNPM, Licenses: m.licenses()}}, nil
}

type npmLockEntry struct {
	Name    string     `json:"name"`
	Version string     `json:"version"`
	License npmLicense `json:"license"`
	Dev     bool       `json:"dev"`
	Link    bool       `json:"link"`
}

// npmLockV1Entry is lockfileVersion 1's nested form; in later versions "dependencies" holds ranges.
type npmLockV1Entry struct {
	npmLockEntry
	Dependencies map[string]npmLockV1Entry `json:"dependencies"`
}

// parseNPMLock reads lockfileVersion 2 and 3 ("packages", keyed by install path) and 1 (nested
// "dependencies"). Development dependencies and links are left out: they are not installed in a
// production image, which is what trivy and osv-scanner assume too.
func parseNPMLock(r io.Reader) ([]evidence.Package, error) {
	var lock struct {
		LockfileVersion int                       `json:"lockfileVersion"`
		Packages        map[string]npmLockEntry   `json:"packages"`
		Dependencies    map[string]npmLockV1Entry `json:"dependencies"`
	}
	if err := json.NewDecoder(r).Decode(&lock); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrEvidence, err)
	}
	var pkgs []evidence.Package
	add := func(name string, e npmLockEntry) {
		if name == "" || e.Version == "" || e.Dev || e.Link {
			return
		}
		var lic []string
		if e.License != "" {
			lic = []string{string(e.License)}
		}
		pkgs = append(pkgs, evidence.Package{Name: name, Version: e.Version, Type: evidence.TypeNPM, Licenses: lic})
	}
	if len(lock.Packages) > 0 {
		for key, e := range lock.Packages {
			i := strings.LastIndex(key, nodeModules)
			if key == "" || i < 0 {
				continue // the root project, or a workspace folder
			}
			name := e.Name
			if name == "" {
				name = key[i+len(nodeModules):]
			}
			add(name, e)
		}
	} else {
		var walk func(map[string]npmLockV1Entry)
		walk = func(deps map[string]npmLockV1Entry) {
			for name, e := range deps {
				add(name, e.npmLockEntry)
				walk(e.Dependencies)
			}
		}
		walk(lock.Dependencies)
	}
	sort.Slice(pkgs, func(i, j int) bool {
		if pkgs[i].Name != pkgs[j].Name {
			return pkgs[i].Name < pkgs[j].Name
		}
		return pkgs[i].Version < pkgs[j].Version
	})
	return pkgs, nil
}
