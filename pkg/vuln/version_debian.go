package vuln

import "github.com/ingot-build/ingot/pkg/deb"

// debVersion orders Debian versions as dpkg does (epochs, then upstream and revision with "~" before
// everything), using the same code ingot resolves packages with.
type debVersion struct{ v deb.Version }

func parseDebian(s string) (version, error) {
	v, err := deb.ParseVersion(s)
	if err != nil {
		return nil, err
	}
	return debVersion{v}, nil
}

func (a debVersion) compare(o version) int { return a.v.Compare(o.(debVersion).v) }
