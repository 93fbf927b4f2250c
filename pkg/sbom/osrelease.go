package sbom

import (
	"bufio"
	"bytes"
	"strings"

	"github.com/ingot-build/ingot/pkg/evidence"
)

// os-release files, in the order os-release(5) says to look: /etc first, then /usr/lib.
const (
	etcOSRelease = "etc/os-release"
	libOSRelease = "usr/lib/os-release"
)

// parseOSRelease reads os-release(5): KEY=value lines, values optionally quoted shell-style. It returns
// nil when there is no ID.
func parseOSRelease(data []byte) *evidence.Distro {
	vars := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		vars[strings.TrimSpace(k)] = unquote(strings.TrimSpace(v))
	}
	if vars["ID"] == "" {
		return nil
	}
	return &evidence.Distro{
		ID:        strings.ToLower(vars["ID"]),
		VersionID: vars["VERSION_ID"],
		Codename:  vars["VERSION_CODENAME"],
		Name:      vars["PRETTY_NAME"],
	}
}

// unquote undoes os-release's shell quoting: "..." with backslash escapes, '...' verbatim.
func unquote(v string) string {
	if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
		return v[1 : len(v)-1]
	}
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return v
	}
	v = v[1 : len(v)-1]
	if !strings.Contains(v, `\`) {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) {
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String()
}
