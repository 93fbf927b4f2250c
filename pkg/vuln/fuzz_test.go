package vuln

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/ingot-build/ingot/pkg/evidence"
)

// Seed corpora live in testdata/fuzz/<FuzzName>/.

// FuzzParseRecord feeds OSV documents to the importer: a document is accepted or refused with
// ErrInvalidRecord, never a panic, and what is accepted reads back from an index unchanged.
func FuzzParseRecord(f *testing.F) {
	f.Add([]byte(`{"id":"X-1","affected":[{"package":{"ecosystem":"npm","name":"a"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.0.0"}]}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := parseRecord("fuzz.json", data)
		if err != nil {
			if !errors.Is(err, ErrInvalidRecord) {
				t.Fatalf("error %v does not wrap ErrInvalidRecord", err)
			}
			return
		}
		rec := compact("fuzz.json", r)
		h := indexHeader{SourceStatus: SourceStatus{Name: "fuzz"}}
		d, _ := buildIndex(map[string]*record{rec.id: rec}, &h)
		path := filepath.Join(t.TempDir(), "fuzz"+indexSuffix)
		out, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := writeIndex(out, h, d); err != nil {
			t.Fatal(err)
		}
		out.Close()
		x, err := openIndex(path)
		if err != nil {
			t.Fatal(err)
		}
		defer x.Close()
		rs, err := x.ratings()
		if err != nil || (rs == nil) != (len(d.ratings) == 0) {
			t.Fatalf("ratings table: %v (%d IDs written)", err, len(d.ratings))
		}
		for id, want := range d.ratings {
			got, err := rs.rated(id)
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("ratings of %q: read back %+v, %v; want %+v", id, got, err, want)
			}
		}
		for eco, pkgs := range d.ecosystems {
			sec, err := x.section(eco)
			if err != nil || sec == nil {
				t.Fatalf("section %q: %v", eco, err)
			}
			for name, want := range pkgs {
				got, err := sec.lookup(name)
				if err != nil {
					t.Fatalf("lookup %q: %v", name, err)
				}
				for i := range got {
					if err := got[i].loadMeta(sec); err != nil {
						t.Fatal(err)
					}
				}
				if !reflect.DeepEqual(normalized(got), normalized(want)) {
					t.Fatalf("%s %s: read back\n%+v\nwant\n%+v", eco, name, got, want)
				}
			}
		}
	})
}

// normalized clears what differs only in representation between an advisory built at import and one
// read from an index (nil versus empty slices, the position of the meta block).
func normalized(as []advisory) []advisory {
	out := make([]advisory, len(as))
	for i, a := range as {
		a.metaOff, a.metaLen, a.metaPending = 0, 0, false
		for _, p := range []*[]string{&a.Aliases, &a.Versions, &a.References} {
			if len(*p) == 0 {
				*p = nil
			}
		}
		if len(a.CVSS) == 0 {
			a.CVSS = nil
		}
		if len(a.Ranges) == 0 {
			a.Ranges = nil
		}
		for j := range a.Ranges {
			if len(a.Ranges[j].Events) == 0 {
				a.Ranges[j].Events = nil
			}
		}
		out[i] = a
	}
	return out
}

// FuzzVersionOrder checks that every ecosystem's ordering is a consistent comparison on what it
// accepts, and that apk's comparison (which apk-tools applies to any string) never panics.
func FuzzVersionOrder(f *testing.F) {
	f.Add("1:2.0~rc1-1", "2.0-1")
	f.Add("1.0_alpha_pre2-r1", "1.0~abc-r0")
	f.Add("1.0.0-alpha.1", "1.0.0+build")
	f.Add("1!2.0.post1.dev3+local.7", "2.0rc1")
	f.Add("go1.21rc2", "1.21.0")
	f.Fuzz(func(t *testing.T, a, b string) {
		compareAPK(a, b)
		for name, parse := range map[string]parser{
			"Debian": parseDebian, "Alpine": parseAPK, "semver": parseSemver,
			"Go": parseGoModule, "Go release": parseGoRelease, "PyPI": parsePEP440,
		} {
			va, errA := parse(a)
			vb, errB := parse(b)
			if errA != nil || errB != nil {
				continue
			}
			if va.compare(va) != 0 {
				t.Errorf("%s: %q != itself", name, a)
			}
			if ab, ba := va.compare(vb), vb.compare(va); ab != -ba || ab < -1 || ab > 1 {
				t.Errorf("%s: compare(%q, %q) = %d but compare(%q, %q) = %d", name, a, b, ab, b, a, ba)
			}
		}
	})
}

// FuzzIndex opens damaged index files: every failure is ErrCorruptIndex (ErrIndexFormat for another
// format's), never a panic or a huge allocation.
func FuzzIndex(f *testing.F) {
	f.Add([]byte(indexMagic + "\x02\x00\x00\x00\x02{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "x"+indexSuffix)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		x, err := openIndex(path)
		if err != nil {
			if !errors.Is(err, ErrCorruptIndex) && !errors.Is(err, ErrIndexFormat) {
				t.Fatalf("open: %v does not wrap ErrCorruptIndex", err)
			}
			return
		}
		defer x.Close()
		if rs, err := x.ratings(); err != nil {
			if !errors.Is(err, ErrCorruptIndex) {
				t.Fatalf("ratings: %v does not wrap ErrCorruptIndex", err)
			}
		} else if rs != nil {
			for i := 0; i < rs.count() && i < 64; i++ {
				name, _, _, err := rs.entry(i)
				if err != nil {
					break
				}
				if _, err := rs.rated(string(name)); err != nil && !errors.Is(err, ErrCorruptIndex) {
					t.Fatalf("rated: %v does not wrap ErrCorruptIndex", err)
				}
			}
		}
		for _, s := range x.header.Ecosystems {
			sec, err := x.section(s.Name)
			if err != nil {
				if !errors.Is(err, ErrCorruptIndex) {
					t.Fatalf("section: %v does not wrap ErrCorruptIndex", err)
				}
				continue
			}
			g := &packageGroup{pkg: evidence.Package{Name: "a"}, queryVersion: "1.0.0", installed: map[string]version{}, matches: map[string]*matched{}}
			for i := 0; i < sec.count() && i < 64; i++ {
				name, _, _, err := sec.entry(i)
				if err != nil {
					break
				}
				advs, err := sec.lookup(string(name))
				if err != nil {
					if !errors.Is(err, ErrCorruptIndex) {
						t.Fatalf("lookup: %v does not wrap ErrCorruptIndex", err)
					}
					continue
				}
				for j := range advs {
					if err := g.consider(sec, &advs[j]); err != nil && !errors.Is(err, ErrCorruptIndex) {
						t.Fatalf("consider: %v does not wrap ErrCorruptIndex", err)
					}
				}
			}
			g.findings()
		}
	})
}
