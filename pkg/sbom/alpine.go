package sbom

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/ingot-build/ingot/pkg/evidence"
)

// apkInstalled is apk-tools' database of installed packages.
const apkInstalled = "lib/apk/db/installed"

// alpineReader reads the apk database: stanzas of "K:value" lines separated by blank lines, with
// P the name, V the version, A the architecture, o the origin (source) package and L the license.
type alpineReader struct{}

func (alpineReader) wants(p string) bool { return p == apkInstalled }

func (alpineReader) parse(_ string, r io.Reader) ([]evidence.Package, error) {
	var (
		pkgs []evidence.Package
		cur  evidence.Package
		line int
	)
	flush := func() error {
		if cur.Name == "" && cur.Version == "" {
			return nil
		}
		if cur.Name == "" || cur.Version == "" {
			return fmt.Errorf("line %d: %w: a stanza lacks its P or V line", line, ErrEvidence)
		}
		cur.Type = evidence.TypeAPK
		if cur.Source == "" {
			cur.Source = cur.Name
		}
		// An origin builds all its subpackages at one version, so the source version is the package's.
		cur.SourceVersion = cur.Version
		pkgs = append(pkgs, cur)
		cur = evidence.Package{}
		return nil
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line++
		t := sc.Text()
		if strings.TrimSpace(t) == "" {
			if err := flush(); err != nil {
				return nil, err
			}
			continue
		}
		if len(t) < 2 || t[1] != ':' {
			return nil, fmt.Errorf("line %d: %w: not a K:value line", line, ErrEvidence)
		}
		v := t[2:]
		switch t[0] {
		case 'P':
			cur.Name = v
		case 'V':
			cur.Version = v
		case 'A':
			cur.Arch = v
		case 'o':
			cur.Source = v
		case 'L':
			if v = strings.TrimSpace(v); v != "" {
				cur.Licenses = []string{v}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", apkInstalled, err)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return pkgs, nil
}
