package sbom

import (
	"bufio"
	"bytes"
	"slices"
	"strings"
)

// Debian packages declare their licenses in /usr/share/doc/<package>/copyright, in the
// machine-readable format (DEP-5: "License: GPL-2+" lines) or as prose that points at
// /usr/share/common-licenses/<name>. dpkg's database has no license field, so this is where syft
// and trivy look too.
const (
	docDir         = "usr/share/doc/"
	commonLicenses = "/usr/share/common-licenses/"
	// maxCopyright caps how much of a copyright file is read; license lines come early and the
	// largest real ones are a few hundred KiB.
	maxCopyright = 1 << 20
)

// copyrightOwner reports whether p is usr/share/doc/<package>/copyright, and for which package.
func copyrightOwner(p string) (string, bool) {
	rest, ok := strings.CutPrefix(p, docDir)
	if !ok {
		return "", false
	}
	name, ok := strings.CutSuffix(rest, "/copyright")
	if !ok || name == "" || strings.Contains(name, "/") {
		return "", false
	}
	return name, true
}

// debianLicenseNames returns the license short names a copyright file declares, as written: the
// "License:" fields of a machine-readable file (each alternative of "GPL-2+ or Artistic"), and the
// common-licenses files that prose refers to.
func debianLicenseNames(data []byte) []string {
	var names []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 16<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "License:"); ok {
			names = append(names, splitAlternatives(strings.TrimSpace(v))...)
			continue
		}
		for rest := line; ; {
			i := strings.Index(rest, commonLicenses)
			if i < 0 {
				break
			}
			rest = rest[i+len(commonLicenses):]
			end := 0
			for end < len(rest) && (isIDChar(rest[end]) || rest[end] == '+') {
				end++
			}
			if n := strings.TrimRight(rest[:end], "."); n != "" {
				names = append(names, n)
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// splitAlternatives splits "GPL-2+ or Artistic" and "MIT, BSD-3-clause" into names.
func splitAlternatives(v string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '(' || r == ')' }) {
		switch strings.ToLower(f) {
		case "or", "and", "with", "":
			continue
		}
		out = append(out, f)
	}
	return out
}

// spdxFromDebian maps a Debian license short name to an SPDX ID, or reports that it has none
// ("public-domain", "other", a project's own name). GNU licenses take -only and -or-later forms
// from a trailing "+"; the rest are looked up in the SPDX list directly.
func (l licenseList) spdxFromDebian(name string) (string, bool) {
	base, later := strings.CutSuffix(name, "+")
	key := strings.ToLower(base)
	gnu := map[string]string{
		"gpl-1": "GPL-1.0", "gpl-2": "GPL-2.0", "gpl-3": "GPL-3.0",
		"lgpl-2": "LGPL-2.0", "lgpl-2.0": "LGPL-2.0", "lgpl-2.1": "LGPL-2.1", "lgpl-3": "LGPL-3.0",
		"agpl-3": "AGPL-3.0", "gfdl-1.2": "GFDL-1.2", "gfdl-1.3": "GFDL-1.3",
		"gpl-2.0": "GPL-2.0", "gpl-3.0": "GPL-3.0", "lgpl-3.0": "LGPL-3.0",
	}
	if id, ok := gnu[key]; ok {
		if later {
			return id + "-or-later", true
		}
		return id + "-only", true
	}
	other := map[string]string{
		"expat": "MIT", "artistic": "Artistic-1.0", "apache-2": "Apache-2.0", "bsd-2-clause": "BSD-2-Clause",
		"bsd-3-clause": "BSD-3-Clause", "bsd-4-clause": "BSD-4-Clause", "cc0": "CC0-1.0", "mpl-2": "MPL-2.0",
		"psf-2": "PSF-2.0",
	}
	if id, ok := other[key]; ok {
		return id, true
	}
	if id, ok := l[key]; ok {
		if later {
			id += "+"
		}
		return id, true
	}
	return "", false
}
