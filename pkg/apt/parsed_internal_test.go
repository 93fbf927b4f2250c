package apt

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/ingot-build/ingot/pkg/deb"
)

const parsedFixture = `Package: libc6
Source: glibc (2.36-9+deb12u4)
Version: 2.36-9+deb12u7
Installed-Size: 12986
Architecture: amd64
Multi-Arch: same
Essential: yes
Priority: optional
Section: libs
Pre-Depends: libgcc-s1
Depends: libgcc-s1, libcrypt1 (>= 1:4.4.10-10)
Breaks: hurd (<< 1:0.9.git20220301-2), nscd (<< 2.36)
Filename: pool/main/g/glibc/libc6_2.36-9+deb12u7_amd64.deb
Size: 2757872
SHA256: 9F58D6A6C4C6A0C46B1FA1BD20BF9E2B6A4C0A0D2CF1C4C8C9E1D3CA4B8A6F20
Description: GNU C Library

Package: mawk
Version: 1:1.3.4.20200120-3.1
Architecture: amd64
Provides: awk
Conflicts: gawk (<< 1)
Filename: pool/main/m/mawk/mawk_1.3.4.20200120-3.1_amd64.deb
Size: 116764
SHA256: 2a5e9ef9e2c5ba7db8e1e4f1e1fbc6fe2f0c2e1d0a3cf8e8f1c6b9bd3d2e2a10

Package: empty-rels
Version: 0
Architecture: all
Filename: pool/e/empty-rels.deb
Size: 0
SHA256: 0000000000000000000000000000000000000000000000000000000000000000
`

func parsedFixturePackages(t *testing.T) []*Package {
	t.Helper()
	var pkgs []*Package
	err := deb.ReadParagraphs(strings.NewReader(parsedFixture), func(p deb.Paragraph) error {
		pkg, err := ParsePackage(p)
		pkgs = append(pkgs, pkg)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return pkgs
}

// TestParsedRoundTrip holds every field of Package to the encoding: what Load returns is what parsing
// gave, down to the raw relation fields.
func TestParsedRoundTrip(t *testing.T) {
	want := parsedFixturePackages(t)
	c := &ParsedCache{Dir: t.TempDir()}
	key := strings.Repeat("0f", 32)
	if err := c.Save(key, want); err != nil {
		t.Fatal(err)
	}
	got, err := c.Load(key)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load gave\n%+v\nwant\n%+v", got, want)
	}
	// Every Package field is encoded: a new field must be added to the encoding and ParsedFormat bumped.
	if n := reflect.TypeFor[Package]().NumField(); n != 15 {
		t.Errorf("Package has %d fields; the parsed encoding knows 15: encode the new one and bump ParsedFormat", n)
	}
}

// TestParsedEntryChecks: an entry is read only when it is of this format, names the index asked for
// and its body hashes right; otherwise Load fails with ErrParsedEntry and removes it.
func TestParsedEntryChecks(t *testing.T) {
	pkgs := parsedFixturePackages(t)
	keyA, keyB := strings.Repeat("0a", 32), strings.Repeat("0b", 32)
	good := encodeParsed(keyA, pkgs)
	versionAt := len(parsedMagic)
	for _, tc := range []struct {
		name string
		key  string
		data []byte
	}{
		{"another format version", keyA, func() []byte {
			b := append([]byte(nil), good...)
			binary.BigEndian.PutUint32(b[versionAt:], ParsedFormat+1)
			return b
		}()},
		{"parsed from another index", keyB, good},
		{"not an entry", keyA, []byte("Package: libc6\n")},
		{"trailing bytes", keyA, func() []byte {
			// A consistent header over a body with one more byte than the packages use.
			b := encodeParsed(keyA, pkgs)
			b = append(b, 0)
			return rehash(b)
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &ParsedCache{Dir: t.TempDir()}
			p := c.Path(tc.key)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			if got, err := c.Load(tc.key); !errors.Is(err, ErrParsedEntry) {
				t.Fatalf("Load = %d packages, %v; want ErrParsedEntry", len(got), err)
			}
			if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the unusable entry is still there: %v", err)
			}
		})
	}
	// A format bump moves entries to another directory, so an old ingot and a new one sharing a data
	// directory never read each other's entries.
	c := &ParsedCache{Dir: "/d"}
	if got, want := c.Path(keyA), filepath.Join("/d", "v"+strconv.Itoa(ParsedFormat), keyA); got != want {
		t.Errorf("Path = %s, want %s", got, want)
	}
}

// rehash makes the header of an encoded entry agree with its (altered) body.
func rehash(b []byte) []byte {
	body := b[parsedHeader:]
	sum := sha256.Sum256(body)
	off := len(parsedMagic) + 4 + 32
	copy(b[off:], sum[:])
	binary.BigEndian.PutUint64(b[off+32:], uint64(len(body)))
	return b
}
