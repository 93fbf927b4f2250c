package sbom

import (
	"bufio"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/ingot-build/ingot/pkg/evidence"
)

// pythonReader reads the core metadata of installed distributions: *.dist-info/METADATA (wheels,
// pip) and *.egg-info/PKG-INFO or a single *.egg-info file (setuptools).
type pythonReader struct{}

func (pythonReader) wants(p string) bool {
	dir, base := path.Split(p)
	dir = strings.TrimSuffix(dir, "/")
	switch base {
	case "METADATA":
		return strings.HasSuffix(dir, ".dist-info")
	case "PKG-INFO":
		return strings.HasSuffix(dir, ".egg-info")
	}
	return strings.HasSuffix(base, ".egg-info")
}

// maxLicenseField is the longest License header taken as a license name: some projects paste the
// whole license text there.
const maxLicenseField = 100

// parse reads only the header block (RFC 822 style, ending at the first blank line): the description
// that follows can be long and says nothing we need.
func (pythonReader) parse(_ string, r io.Reader) ([]evidence.Package, error) {
	var name, version, license, expression string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 16<<10), 1<<20)
	last := ""
	for sc.Scan() {
		t := sc.Text()
		if strings.TrimSpace(t) == "" {
			break
		}
		if t[0] == ' ' || t[0] == '\t' {
			if last == "License" {
				license = "" // a multi-line License field is license text, not a name
				last = ""
			}
			continue
		}
		k, v, ok := strings.Cut(t, ":")
		if !ok {
			continue
		}
		last, v = k, strings.TrimSpace(v)
		switch strings.ToLower(k) {
		case "name":
			name = v
		case "version":
			version = v
		case "license":
			license = v
		case "license-expression":
			expression = v
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrEvidence, err)
	}
	if name == "" || version == "" {
		return nil, fmt.Errorf("%w: metadata without Name or Version", ErrEvidence)
	}
	p := evidence.Package{Name: name, Version: version, Type: evidence.TypePyPI}
	switch {
	case expression != "":
		p.Licenses = []string{expression}
	case license != "" && len(license) <= maxLicenseField && !strings.EqualFold(license, "UNKNOWN"):
		p.Licenses = []string{license}
	}
	return []evidence.Package{p}, nil
}
