package deb_test

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"path"
	"reflect"
	"strings"
	"testing"

	"github.com/ingot-build/ingot/internal/debtest"
	"github.com/ingot-build/ingot/pkg/deb"
)

// Seed corpora live in testdata/fuzz/<FuzzName>/.

func FuzzReadParagraphs(f *testing.F) {
	f.Add([]byte("Package: a\nDescription: x\n y\n .\n\nPackage: b\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var ps []deb.Paragraph
		err := deb.ReadParagraphs(bytes.NewReader(data), func(p deb.Paragraph) error {
			if len(p.Fields) == 0 {
				t.Fatal("empty paragraph delivered")
			}
			ps = append(ps, p)
			return nil
		})
		if err != nil {
			if !errors.Is(err, deb.ErrSyntax) {
				t.Fatalf("error %v does not wrap ErrSyntax", err)
			}
			return
		}
		// What WriteTo accepts must read back identically.
		var out bytes.Buffer
		var written []deb.Paragraph
		for _, p := range ps {
			var b bytes.Buffer
			if _, err := p.WriteTo(&b); err != nil {
				continue
			}
			out.Write(b.Bytes())
			out.WriteByte('\n')
			written = append(written, p)
		}
		var again []deb.Paragraph
		if err := deb.ReadParagraphs(&out, func(p deb.Paragraph) error { again = append(again, p); return nil }); err != nil {
			t.Fatalf("re-reading written paragraphs: %v\n%q", err, out.String())
		}
		if !reflect.DeepEqual(again, written) {
			t.Fatalf("round trip changed paragraphs:\n%q\n%q", written, again)
		}
	})
}

func FuzzParseVersion(f *testing.F) {
	f.Add("1:2.36-9+deb12u14", "2.36~rc1")
	f.Fuzz(func(t *testing.T, a, b string) {
		va, errA := deb.ParseVersion(a)
		vb, errB := deb.ParseVersion(b)
		for _, err := range []error{errA, errB} {
			if err != nil && !errors.Is(err, deb.ErrVersion) {
				t.Fatalf("error %v does not wrap ErrVersion", err)
			}
		}
		for _, v := range []struct {
			v   deb.Version
			err error
		}{{va, errA}, {vb, errB}} {
			if v.err != nil {
				continue
			}
			again, err := deb.ParseVersion(v.v.String())
			if err != nil || again != v.v {
				t.Fatalf("String %q does not round-trip: %#v, %v", v.v.String(), again, err)
			}
			if v.v.Compare(v.v) != 0 {
				t.Fatalf("%s does not equal itself", v.v)
			}
		}
		if errA == nil && errB == nil {
			ab, ba := va.Compare(vb), vb.Compare(va)
			if ab != -ba || ab < -1 || ab > 1 {
				t.Fatalf("Compare(%s, %s) = %d but Compare(%s, %s) = %d", va, vb, ab, vb, va, ba)
			}
			if ab == 0 && va.Epoch != vb.Epoch {
				t.Fatalf("%s and %s compare equal with different epochs", va, vb)
			}
		}
	})
}

func FuzzParseRelations(f *testing.F) {
	f.Add("libc6 (>= 2.36), a:any | b (<< 1) [amd64 !i386] <!nocheck>")
	f.Fuzz(func(t *testing.T, s string) {
		rels, err := deb.ParseRelations(s)
		if err != nil {
			if !errors.Is(err, deb.ErrRelation) {
				t.Fatalf("error %v does not wrap ErrRelation", err)
			}
			return
		}
		parts := make([]string, len(rels))
		for i, a := range rels {
			if len(a) == 0 {
				t.Fatal("empty alternatives")
			}
			parts[i] = a.String()
		}
		again, err := deb.ParseRelations(strings.Join(parts, ", "))
		if err != nil || !reflect.DeepEqual(again, rels) {
			t.Fatalf("String does not round-trip: %q -> %v, %v", parts, again, err)
		}
	})
}

// fuzzLimits keep hostile inputs cheap while still exercising every limit.
func fuzzLimits() deb.Limits {
	return deb.Limits{MaxControlSize: 1 << 20, MaxDataSize: 4 << 20, MaxEntries: 1000}
}

func classified(err error) bool {
	return errors.Is(err, deb.ErrMalformed) || errors.Is(err, deb.ErrUnsafePath) || errors.Is(err, deb.ErrTooLarge)
}

// checkData reads every entry of a and checks the promises DataReader makes about them.
func checkData(t *testing.T, a *deb.Archive) {
	d, err := a.Data()
	if err != nil {
		if !classified(err) {
			t.Fatalf("Data: unclassified error %v", err)
		}
		return
	}
	defer d.Close()
	for {
		e, err := d.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			if !classified(err) {
				t.Fatalf("Next: unclassified error %v", err)
			}
			return
		}
		if !safeRelative(e.Path) {
			t.Fatalf("entry %+v has an unsafe path", e)
		}
		if e.Type == tar.TypeLink && !safeRelative(e.Linkname) {
			t.Fatalf("hardlink %+v has an unsafe target", e)
		}
		if e.Mode&^0o7777 != 0 || e.Size < 0 {
			t.Fatalf("entry %+v: bad mode or size", e)
		}
		n, err := io.Copy(io.Discard, d)
		if err != nil {
			if !classified(err) {
				t.Fatalf("Read: unclassified error %v", err)
			}
			return
		}
		if n != e.Size {
			t.Fatalf("entry %s: read %d bytes, Size %d", e.Path, n, e.Size)
		}
	}
}

func safeRelative(p string) bool {
	return p != "" && p == path.Clean(p) && p != "." && !strings.HasPrefix(p, "/") && p != ".." && !strings.HasPrefix(p, "../")
}

func FuzzOpen(f *testing.F) {
	f.Add([]byte("!<arch>\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := deb.Open(bytes.NewReader(data), int64(len(data)), fuzzLimits())
		if err != nil {
			if !classified(err) {
				t.Fatalf("Open: unclassified error %v", err)
			}
			return
		}
		if _, err := a.Control(); err != nil && !classified(err) {
			t.Fatalf("Control: unclassified error %v", err)
		}
		if _, _, err := a.ControlFile("md5sums"); err != nil && !classified(err) {
			t.Fatalf("ControlFile: unclassified error %v", err)
		}
		checkData(t, a)
	})
}

// FuzzData feeds arbitrary bytes to DataReader as an uncompressed data.tar.
func FuzzData(f *testing.F) {
	f.Add([]byte{})
	members := splitAr(f, debtest.MustBuild(f, debtest.Package{Name: "x", Version: "1"}))
	head := ar(debtest.ArMember("debian-binary", []byte("2.0\n")), debtest.ArMember("control.tar.gz", members["control.tar.gz"]))
	f.Fuzz(func(t *testing.T, tarData []byte) {
		in := append(bytes.Clone(head), debtest.ArMember("data.tar", tarData)...)
		a, err := deb.Open(bytes.NewReader(in), int64(len(in)), fuzzLimits())
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		checkData(t, a)
	})
}
