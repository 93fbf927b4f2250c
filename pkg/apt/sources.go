package apt

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ingot-build/ingot/pkg/deb"
)

// Source is one Debian repository: where, which suite, which components, and the keyrings that sign it.
type Source struct {
	// Name labels the source in locks and errors; WithDefaults sets it to "<url> <suite>".
	Name string
	// URL is the http://, https:// or file:// base of the archive (the directory holding dists/ and pool/).
	URL   string
	Suite string
	// Components default to ["main"].
	Components []string
	// Keyring is the path of an OpenPGP keyring, binary (.gpg) or ASCII-armored (.asc).
	Keyring string
	// Keyrings are further keyring paths, for sources trusted by several files (apt's trusted.gpg.d);
	// a Release signed by a key in Keyring or in any of Keyrings is accepted.
	Keyrings []string
}

// WithDefaults returns s with Name and Components filled in when they are empty.
func (s Source) WithDefaults() Source {
	s.URL = strings.TrimRight(s.URL, "/")
	if s.Name == "" {
		s.Name = s.URL + " " + s.Suite
	}
	if len(s.Components) == 0 {
		s.Components = []string{"main"}
	}
	return s
}

// Validate reports the first field of s that cannot work, naming it.
func (s Source) Validate() error {
	u, err := url.Parse(s.URL)
	if err != nil {
		return fmt.Errorf("%w: source %q: url: %w", ErrSource, s.Name, err)
	}
	switch u.Scheme {
	case "http", "https":
		if u.Host == "" {
			return fmt.Errorf("%w: source %q: url %q has no host", ErrSource, s.Name, s.URL)
		}
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return fmt.Errorf("%w: source %q: file url %q names a host", ErrSource, s.Name, s.URL)
		}
		if !path.IsAbs(u.Path) {
			return fmt.Errorf("%w: source %q: file url %q is not absolute", ErrSource, s.Name, s.URL)
		}
	default:
		return fmt.Errorf("%w: source %q: url %q: scheme must be http, https or file", ErrSource, s.Name, s.URL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%w: source %q: url %q has a query or fragment", ErrSource, s.Name, s.URL)
	}
	if !validSuite(s.Suite) {
		return fmt.Errorf("%w: source %q: suite %q is not a suite name (flat repositories are not supported)", ErrSource, s.Name, s.Suite)
	}
	for _, c := range s.Components {
		if !validRelPath(c) {
			return fmt.Errorf("%w: source %q: component %q", ErrSource, s.Name, c)
		}
	}
	if len(s.keyrings()) == 0 {
		return fmt.Errorf("%w: source %q: no keyring: every Release must be verified", ErrSource, s.Name)
	}
	return nil
}

// validSuite accepts "bookworm" and "stable/updates" but not the "./" of flat repositories.
func validSuite(s string) bool {
	return s != "" && !strings.HasSuffix(s, "/") && validRelPath(s)
}

// validRelPath reports whether p is a clean relative slash path that stays inside its base.
func validRelPath(p string) bool {
	if p == "" || strings.HasPrefix(p, "/") || strings.ContainsAny(p, "\\\x00") || path.Clean(p) != p {
		return false
	}
	for _, e := range strings.Split(p, "/") {
		if e == ".." || e == "." {
			return false
		}
	}
	return true
}

func (s Source) keyrings() []string {
	var ks []string
	if s.Keyring != "" {
		ks = append(ks, s.Keyring)
	}
	for _, k := range s.Keyrings {
		if k != "" {
			ks = append(ks, k)
		}
	}
	return ks
}

// URLFor returns the URL of rel, a slash path relative to the archive root such as a Packages stanza's
// Filename, with each path segment escaped.
func (s Source) URLFor(rel string) string {
	segs := strings.Split(rel, "/")
	for i, seg := range segs {
		segs[i] = url.PathEscape(seg)
	}
	return strings.TrimRight(s.URL, "/") + "/" + strings.Join(segs, "/")
}

func (s Source) distURL(rel string) string {
	return s.URLFor("dists/" + s.Suite + "/" + rel)
}

// HostSources reads the host's apt configuration: with no arguments /etc/apt/sources.list and
// /etc/apt/sources.list.d/*.list and *.sources, otherwise the files given (one-line format unless the
// name ends in ".sources", which is deb822). Only "deb" entries that are enabled count; each URI and suite
// gives one Source. Signed-By names the keyring; without it the keyrings apt trusts globally
// (/etc/apt/trusted.gpg and /etc/apt/trusted.gpg.d/*.gpg, *.asc) are used. Signed-By given as
// fingerprints or as an inline key block is refused with an error, as are flat repositories. Other
// options (arch=, trusted=yes) are ignored: every Release is verified, whatever the host allows.
func HostSources(files ...string) ([]Source, error) {
	if len(files) == 0 {
		return HostSourcesIn("/")
	}
	return readSources("/", files)
}

// HostSourcesIn reads the apt configuration of the system tree at root (such as a chroot) as
// HostSources does for "/"; keyring paths in it are taken relative to root.
func HostSourcesIn(root string) ([]Source, error) {
	etc := filepath.Join(root, "etc", "apt")
	files := []string{filepath.Join(etc, "sources.list")}
	if _, err := os.Stat(files[0]); errors.Is(err, fs.ErrNotExist) {
		files = files[:0]
	}
	var d []string
	for _, pat := range []string{"*.list", "*.sources"} {
		m, err := filepath.Glob(filepath.Join(etc, "sources.list.d", pat))
		if err != nil {
			return nil, fmt.Errorf("listing apt sources in %s: %w", etc, err)
		}
		d = append(d, m...)
	}
	slices.Sort(d) // apt reads sources.list.d in name order, whatever the format
	files = append(files, d...)
	if len(files) == 0 {
		return nil, fmt.Errorf("%w: no apt sources under %s", ErrSource, etc)
	}
	return readSources(root, files)
}

// sourceEntry is one deb line or one URI×suite of a deb822 stanza, before keyrings are resolved.
type sourceEntry struct {
	where      string // file:line for errors
	uri, suite string
	components []string
	signedBy   string
}

func readSources(root string, files []string) ([]Source, error) {
	var entries []sourceEntry
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("reading apt sources: %w", err)
		}
		var es []sourceEntry
		if strings.HasSuffix(f, ".sources") {
			es, err = parseDeb822Sources(f, data)
		} else {
			es, err = parseOneLineSources(f, data)
		}
		if err != nil {
			return nil, err
		}
		entries = append(entries, es...)
	}
	var trusted []string // resolved once, only when an entry needs it
	var out []Source
	for _, e := range entries {
		src := Source{URL: normalizeURI(e.uri), Suite: e.suite, Components: e.components}
		if e.signedBy != "" {
			paths, err := signedByPaths(e.signedBy)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", e.where, err)
			}
			for i, p := range paths {
				paths[i] = filepath.Join(root, p)
			}
			src.Keyring = paths[0]
			if len(paths) > 1 {
				src.Keyrings = paths[1:]
			}
		} else {
			if trusted == nil {
				var err error
				if trusted, err = trustedKeyrings(root); err != nil {
					return nil, fmt.Errorf("%s: no Signed-By: %w", e.where, err)
				}
			}
			src.Keyrings = slices.Clone(trusted)
		}
		if len(src.Components) == 0 {
			return nil, fmt.Errorf("%w: %s: %s %s has no components (flat repositories are not supported)", ErrSource, e.where, e.uri, e.suite)
		}
		src = src.WithDefaults()
		if err := src.Validate(); err != nil {
			return nil, fmt.Errorf("%s: %w", e.where, err)
		}
		merged := false
		for i := range out {
			o := &out[i]
			if o.URL != src.URL || o.Suite != src.Suite {
				continue
			}
			if !slices.Equal(o.keyrings(), src.keyrings()) {
				return nil, fmt.Errorf("%w: %s: %s is listed again with different keyrings", ErrSource, e.where, src.Name)
			}
			for _, c := range src.Components {
				if !slices.Contains(o.Components, c) {
					o.Components = append(o.Components, c)
				}
			}
			merged = true
		}
		if !merged {
			out = append(out, src)
		}
	}
	return out, nil
}

// normalizeURI turns apt's "file:/srv/repo" into "file:///srv/repo" and drops trailing slashes.
func normalizeURI(u string) string {
	if rest, ok := strings.CutPrefix(u, "file:"); ok && !strings.HasPrefix(rest, "//") {
		u = "file://" + rest
	}
	return strings.TrimRight(u, "/")
}

// signedByPaths splits a Signed-By value into keyring paths, refusing the forms that name keys rather
// than files.
func signedByPaths(v string) ([]string, error) {
	if strings.Contains(v, "-----BEGIN PGP") {
		return nil, fmt.Errorf("%w: Signed-By with an inline key block is not supported; save the key to a file and name it", ErrSource)
	}
	fields := strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' })
	if len(fields) == 0 {
		return nil, fmt.Errorf("%w: empty Signed-By", ErrSource)
	}
	for _, f := range fields {
		if !strings.HasPrefix(f, "/") {
			return nil, fmt.Errorf("%w: Signed-By %q is not an absolute keyring path (fingerprints are not supported)", ErrSource, f)
		}
	}
	return fields, nil
}

// trustedKeyrings lists the keyrings apt trusts for sources without Signed-By.
func trustedKeyrings(root string) ([]string, error) {
	etc := filepath.Join(root, "etc", "apt")
	var ks []string
	if fi, err := os.Stat(filepath.Join(etc, "trusted.gpg")); err == nil && fi.Mode().IsRegular() && fi.Size() > 0 {
		ks = append(ks, filepath.Join(etc, "trusted.gpg"))
	}
	var d []string
	for _, pat := range []string{"*.gpg", "*.asc"} {
		m, err := filepath.Glob(filepath.Join(etc, "trusted.gpg.d", pat))
		if err != nil {
			return nil, fmt.Errorf("listing trusted keyrings: %w", err)
		}
		d = append(d, m...)
	}
	slices.Sort(d)
	ks = append(ks, d...)
	if len(ks) == 0 {
		return nil, fmt.Errorf("%w: no trusted keyrings in %s", ErrSource, etc)
	}
	return ks, nil
}

// parseOneLineSources reads the classic format: "deb [opt=val ...] uri suite component...".
func parseOneLineSources(file string, data []byte) ([]sourceEntry, error) {
	var out []sourceEntry
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		n++
		where := fmt.Sprintf("%s:%d", file, n)
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		typ, rest, _ := strings.Cut(line, " ")
		typ = strings.TrimSpace(typ)
		if typ == "deb-src" {
			continue
		}
		if typ != "deb" {
			return nil, fmt.Errorf("%w: %s: unknown source type %q", ErrSource, where, typ)
		}
		rest = strings.TrimSpace(rest)
		var opts []string
		if strings.HasPrefix(rest, "[") {
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return nil, fmt.Errorf("%w: %s: unterminated [options]", ErrSource, where)
			}
			opts = strings.Fields(rest[1:end])
			rest = rest[end+1:]
		}
		f := strings.Fields(rest)
		if len(f) < 2 {
			return nil, fmt.Errorf("%w: %s: want \"deb uri suite component...\"", ErrSource, where)
		}
		e := sourceEntry{where: where, uri: f[0], suite: f[1], components: f[2:]}
		for _, o := range opts {
			k, v, ok := strings.Cut(o, "=")
			if !ok {
				return nil, fmt.Errorf("%w: %s: option %q is not key=value", ErrSource, where, o)
			}
			switch strings.ToLower(k) {
			case "signed-by":
				e.signedBy = v
			case "enabled":
				if v == "no" {
					e.uri = ""
				}
			}
		}
		if e.uri != "" {
			out = append(out, e)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	return out, nil
}

// parseDeb822Sources reads the deb822 format of sources.list.d/*.sources.
func parseDeb822Sources(file string, data []byte) ([]sourceEntry, error) {
	var out []sourceEntry
	n := 0
	err := deb.ReadParagraphs(bytes.NewReader(data), func(p deb.Paragraph) error {
		n++
		where := fmt.Sprintf("%s: stanza %d", file, n)
		if strings.EqualFold(strings.TrimSpace(p.Get("Enabled")), "no") {
			return nil
		}
		types := strings.Fields(p.Get("Types"))
		if len(types) == 0 {
			return fmt.Errorf("%w: %s: no Types", ErrSource, where)
		}
		if !slices.Contains(types, "deb") {
			return nil
		}
		uris, suites := strings.Fields(p.Get("URIs")), strings.Fields(p.Get("Suites"))
		if len(uris) == 0 || len(suites) == 0 {
			return fmt.Errorf("%w: %s: URIs and Suites are required", ErrSource, where)
		}
		comps := strings.Fields(p.Get("Components"))
		for _, u := range uris {
			for _, s := range suites {
				out = append(out, sourceEntry{where: where, uri: u, suite: s, components: comps, signedBy: strings.TrimSpace(p.Get("Signed-By"))})
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	return out, nil
}
