package apt

import (
	"errors"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/ingot-build/ingot/pkg/deb"
)

// readPackages parses every stanza of a Packages file under testdata.
func readPackages(t testing.TB, path string) []*Package {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var pkgs []*Package
	err = deb.ReadParagraphs(f, func(p deb.Paragraph) error {
		pkg, err := ParsePackage(p)
		if err != nil {
			return err
		}
		pkgs = append(pkgs, pkg)
		return nil
	})
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	return pkgs
}

func mustParagraph(t testing.TB, text string) deb.Paragraph {
	t.Helper()
	p, err := deb.ParseParagraph([]byte(strings.TrimSpace(text) + "\n"))
	if err != nil {
		t.Fatalf("parsing stanza: %v\n%s", err, text)
	}
	return p
}

const libgccStanza = `
Package: libgcc-s1
Source: gcc-12 (12.2.0-14)
Version: 12.2.0-14+deb12u1
Installed-Size: 140
Architecture: amd64
Multi-Arch: same
Priority: optional
Section: libs
Depends: gcc-12-base (= 12.2.0-14+deb12u1), libc6 (>= 2.35)
Provides: libgcc1 (= 1:12.2.0-14+deb12u1)
Breaks: gcc-4.3 (<< 4.3.6-1), gcc-4.4 (<< 4.4.6-4)
Filename: pool/main/g/gcc-12/libgcc-s1_12.2.0-14+deb12u1_amd64.deb
Size: 49424
SHA256: 8F9A7D6BDB4B8E0C9E5E3B7C7E3F02C0A9C3A40E5A36FE3C9A8A4D67D0F6C2B1
`

func TestParsePackage(t *testing.T) {
	tests := []struct {
		name   string
		stanza string
		want   Package
		deps   string // Depends().String() joined with ", "
		// noRelations: the stanza has no relation field, so no cache is allocated for it.
		noRelations bool
	}{
		{
			name:   "source with version, uppercase checksum",
			stanza: libgccStanza,
			want: Package{
				Name: "libgcc-s1", Version: deb.MustParseVersion("12.2.0-14+deb12u1"), Architecture: "amd64",
				Source: "gcc-12", SourceVersion: deb.MustParseVersion("12.2.0-14"),
				Priority: "optional", Section: "libs", MultiArch: "same",
				Filename:      "pool/main/g/gcc-12/libgcc-s1_12.2.0-14+deb12u1_amd64.deb",
				Size:          49424,
				SHA256:        "8f9a7d6bdb4b8e0c9e5e3b7c7e3f02c0a9c3a40e5a36fe3c9a8a4d67d0f6c2b1",
				InstalledSize: 140,
			},
			deps: "gcc-12-base (= 12.2.0-14+deb12u1), libc6 (>= 2.35)",
		},
		{
			name: "no Source field, essential, epoch",
			stanza: `
Package: mawk
Version: 1:1.3.4.20200120-3.1
Essential: yes
Architecture: amd64
Filename: pool/main/m/mawk/mawk_1.3.4.20200120-3.1_amd64.deb
Size: 133840
SHA256: 1f8c5c5e2b6c2d84e1b4c0c6e0a5a7b4b0d1e1bb0c7a1a25e16b09bd6ad5bd07
`,
			want: Package{
				Name: "mawk", Version: deb.MustParseVersion("1:1.3.4.20200120-3.1"), Architecture: "amd64",
				Source: "mawk", SourceVersion: deb.MustParseVersion("1:1.3.4.20200120-3.1"), Essential: true,
				Filename: "pool/main/m/mawk/mawk_1.3.4.20200120-3.1_amd64.deb", Size: 133840,
				SHA256: "1f8c5c5e2b6c2d84e1b4c0c6e0a5a7b4b0d1e1bb0c7a1a25e16b09bd6ad5bd07",
			},
			noRelations: true,
		},
		{
			name: "source without version keeps the binary version",
			stanza: `
Package: libssl3
Source: openssl
Version: 3.0.22-1~deb12u2
Architecture: amd64
Filename: pool/updates/main/o/openssl/libssl3_3.0.22-1~deb12u2_amd64.deb
Size: 2035
SHA256: 0000000000000000000000000000000000000000000000000000000000000000
Essential: no
`,
			want: Package{
				Name: "libssl3", Version: deb.MustParseVersion("3.0.22-1~deb12u2"), Architecture: "amd64",
				Source: "openssl", SourceVersion: deb.MustParseVersion("3.0.22-1~deb12u2"),
				Filename: "pool/updates/main/o/openssl/libssl3_3.0.22-1~deb12u2_amd64.deb", Size: 2035,
				SHA256: strings.Repeat("0", 64),
			},
			noRelations: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePackage(mustParagraph(t, tt.stanza))
			if err != nil {
				t.Fatal(err)
			}
			if (got.rel == nil) != tt.noRelations {
				t.Errorf("relation cache allocated = %v, want %v", got.rel != nil, !tt.noRelations)
			}
			cmp := *got
			cmp.rel = nil
			if cmp != tt.want {
				t.Errorf("ParsePackage =\n%+v\nwant\n%+v", cmp, tt.want)
			}
			deps, err := got.Depends()
			if err != nil {
				t.Fatal(err)
			}
			if s := joinGroups(deps); s != tt.deps {
				t.Errorf("Depends = %q, want %q", s, tt.deps)
			}
		})
	}
}

func joinGroups(gs []deb.Alternatives) string {
	s := make([]string, len(gs))
	for i, g := range gs {
		s[i] = g.String()
	}
	return strings.Join(s, ", ")
}

func TestParsePackageErrors(t *testing.T) {
	// Each case edits the valid libgcc stanza: a field replaced (or removed when the value is "").
	tests := []struct {
		field, value string
		want         string
	}{
		{"Package", "", "missing Package field"},
		{"Package", "Libgcc", `invalid package name "Libgcc"`},
		{"Version", "", "libgcc-s1: missing Version field"},
		{"Version", "x1.0", "libgcc-s1: Version: deb: invalid version"},
		{"Architecture", "", "missing Architecture field"},
		{"Filename", "", "missing Filename field"},
		{"Filename", "/etc/passwd", "not a relative pool path"},
		{"Filename", "pool/../../etc/passwd", "'..' path segment"},
		{"Filename", "pool//x.deb", "empty, '.' or '..' path segment"},
		{"Size", "", "missing Size field"},
		{"Size", "-1", `Size: "-1" is not a non-negative integer`},
		{"Size", "12k", `Size: "12k" is not a non-negative integer`},
		{"Installed-Size", "lots", "Installed-Size:"},
		{"SHA256", "", "missing SHA256 field"},
		{"SHA256", "abc", "SHA256: \"abc\" is not 64 hex digits"},
		{"SHA256", strings.Repeat("g", 64), "is not 64 hex digits"},
		{"Essential", "maybe", `Essential is "maybe", want yes or no`},
		{"Source", "gcc-12 12.2", `want "name" or "name (version)"`},
		{"Source", "gcc-12 (x)", "deb: invalid version"},
		{"Source", "GCC", "invalid source package name"},
	}
	for _, tt := range tests {
		t.Run(tt.field+"="+tt.value, func(t *testing.T) {
			p := mustParagraph(t, libgccStanza)
			var fields []deb.Field
			for _, f := range p.Fields {
				if f.Name != tt.field {
					fields = append(fields, f)
				} else if tt.value != "" {
					fields = append(fields, deb.Field{Name: f.Name, Value: tt.value})
				}
			}
			if _, ok := p.Lookup(tt.field); !ok {
				fields = append(fields, deb.Field{Name: tt.field, Value: tt.value})
			}
			_, err := ParsePackage(deb.Paragraph{Fields: fields})
			if !errors.Is(err, ErrInvalidPackage) {
				t.Fatalf("err = %v, want ErrInvalidPackage", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestPackageRelations(t *testing.T) {
	const head = "Package: foo\nVersion: 1.0\nArchitecture: all\nFilename: pool/f/foo.deb\nSize: 1\nSHA256: " +
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"
	tests := []struct {
		name    string
		fields  string
		get     func(*Package) ([]deb.Alternatives, error)
		want    string
		wantErr string
	}{
		{"pre-depends", "Pre-Depends: libc6 (>= 2.36)\n", (*Package).PreDepends, "libc6 (>= 2.36)", ""},
		{"depends folded over lines", "Depends: a,\n b | c:any (<< 2~)\n", (*Package).Depends, "a, b | c:any (<< 2~)", ""},
		{"provides versioned", "Provides: awk, libfoo-abi (= 3)\n", (*Package).Provides, "awk, libfoo-abi (= 3)", ""},
		{"conflicts", "Conflicts: bar (<< 3)\n", (*Package).Conflicts, "bar (<< 3)", ""},
		{"breaks", "Breaks: baz\n", (*Package).Breaks, "baz", ""},
		{"absent field", "Depends: a\n", (*Package).Breaks, "", ""},
		{"malformed depends", "Depends: a (>= )\n", (*Package).Depends, "", "package foo=1.0: Depends:"},
		{"alternatives in provides", "Provides: a | b\n", (*Package).Provides, "", `alternatives "a | b" are not allowed`},
		{"operator in provides", "Provides: a (>= 1)\n", (*Package).Provides, "", `only "=" is allowed`},
		// One bad field must not hide the others.
		{"bad breaks, good depends", "Depends: a\nBreaks: (\n", (*Package).Depends, "a", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePackage(mustParagraph(t, head+tt.fields))
			if err != nil {
				t.Fatalf("ParsePackage: %v", err)
			}
			for range 2 { // the second call is served from the cache and must agree
				got, err := tt.get(p)
				if tt.wantErr != "" {
					if !errors.Is(err, ErrInvalidPackage) || !strings.Contains(err.Error(), tt.wantErr) {
						t.Fatalf("err = %v, want ErrInvalidPackage containing %q", err, tt.wantErr)
					}
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				if s := joinGroups(got); s != tt.want {
					t.Errorf("got %q, want %q", s, tt.want)
				}
			}
		})
	}
}

func TestPackageRelationsConcurrent(t *testing.T) {
	// "all" packages are shared by the universes of several architectures, resolved in parallel.
	p, err := ParsePackage(mustParagraph(t, libgccStanza))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			deps, err := p.Depends()
			if err != nil || len(deps) != 2 {
				t.Errorf("Depends = %v, %v", deps, err)
			}
			if b, err := p.Breaks(); err != nil || len(b) != 2 {
				t.Errorf("Breaks = %v, %v", b, err)
			}
		})
	}
	wg.Wait()
}

func TestPackageString(t *testing.T) {
	p, err := ParsePackage(mustParagraph(t, libgccStanza))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.String(), "libgcc-s1=12.2.0-14+deb12u1/amd64"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
}

func TestParsePackageRealIndex(t *testing.T) {
	// Every stanza of the bookworm excerpt parses, with all its relation fields.
	for _, path := range []string{"testdata/resolve/bookworm-main.Packages", "testdata/resolve/bookworm-security.Packages"} {
		pkgs := readPackages(t, path)
		if len(pkgs) < 5 {
			t.Fatalf("%s: only %d packages", path, len(pkgs))
		}
		for _, p := range pkgs {
			for _, get := range []func(*Package) ([]deb.Alternatives, error){
				(*Package).PreDepends, (*Package).Depends, (*Package).Provides, (*Package).Conflicts, (*Package).Breaks,
			} {
				if _, err := get(p); err != nil {
					t.Errorf("%s: %v", p, err)
				}
			}
		}
	}
}

func FuzzParsePackage(f *testing.F) {
	f.Add([]byte(libgccStanza))
	f.Add([]byte("Package: a\nVersion: 1\nArchitecture: all\nFilename: a\nSize: 0\nSHA256: " + strings.Repeat("A", 64) +
		"\nSource: b (2)\nDepends: c | d (>= 1) [amd64]\nProvides: e (= 1)\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		para, err := deb.ParseParagraph(data)
		if err != nil {
			return
		}
		p, err := ParsePackage(para)
		if err != nil {
			if !errors.Is(err, ErrInvalidPackage) {
				t.Fatalf("error does not wrap ErrInvalidPackage: %v", err)
			}
			return
		}
		if !validPackageName(p.Name) || len(p.SHA256) != 64 || strings.ToLower(p.SHA256) != p.SHA256 {
			t.Fatalf("accepted invalid package %+v", p)
		}
		if strings.HasPrefix(p.Filename, "/") || strings.Contains("/"+p.Filename+"/", "/../") {
			t.Fatalf("accepted escaping Filename %q", p.Filename)
		}
		for _, get := range []func(*Package) ([]deb.Alternatives, error){
			(*Package).PreDepends, (*Package).Depends, (*Package).Provides, (*Package).Conflicts, (*Package).Breaks,
		} {
			if _, err := get(p); err != nil && !errors.Is(err, ErrInvalidPackage) {
				t.Fatalf("relation error does not wrap ErrInvalidPackage: %v", err)
			}
		}
		NewUniverse("amd64", []*Package{p}) // must not panic on whatever Provides holds
	})
}
