package deb

import (
	"bytes"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
)

func readAll(t *testing.T, in string) ([]Paragraph, error) {
	t.Helper()
	var ps []Paragraph
	err := ReadParagraphs(strings.NewReader(in), func(p Paragraph) error {
		ps = append(ps, p)
		return nil
	})
	return ps, err
}

func fields(kv ...string) Paragraph {
	var p Paragraph
	for i := 0; i < len(kv); i += 2 {
		p.Fields = append(p.Fields, Field{kv[i], kv[i+1]})
	}
	return p
}

func TestReadParagraphs(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Paragraph
	}{
		{"empty", "", nil},
		{"only blank lines", "\n \n\t\n", nil},
		{"one field no newline", "Package: a", []Paragraph{fields("Package", "a")}},
		{"trims value", "Package:   a  \t\n", []Paragraph{fields("Package", "a")}},
		{"empty value", "Essential:\n", []Paragraph{fields("Essential", "")}},
		{"colon in value", "Homepage: https://example.org:8080/x\n", []Paragraph{fields("Homepage", "https://example.org:8080/x")}},
		{
			"multi-line description",
			"Description: short\n long line\n .\n \tindented\n",
			[]Paragraph{fields("Description", "short\nlong line\n.\n\tindented")},
		},
		{
			"empty first line",
			"SHA256:\n abc 1 main/x\n def 2 main/y\n",
			[]Paragraph{fields("SHA256", "\nabc 1 main/x\ndef 2 main/y")},
		},
		{
			"two paragraphs and extra separators",
			"\n\nA: 1\nB: 2\n\n\n  \nA: 3\n\n",
			[]Paragraph{fields("A", "1", "B", "2"), fields("A", "3")},
		},
		{
			"comments are skipped and do not split",
			"# leading\nA: 1\n# inside\nB: 2\n",
			[]Paragraph{fields("A", "1", "B", "2")},
		},
		{"crlf", "A: 1\r\n B\r\n\r\nC: 2\r\n", []Paragraph{fields("A", "1\nB"), fields("C", "2")}},
		{"long line", "A: " + strings.Repeat("x", 1<<20) + "\nB: y\n", []Paragraph{fields("A", strings.Repeat("x", 1<<20), "B", "y")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readAll(t, tt.in)
			if err != nil {
				t.Fatalf("ReadParagraphs: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestReadParagraphsErrors(t *testing.T) {
	tests := []struct {
		name, in, wantMsg string
	}{
		{"no colon", "Package: a\nVersion 1\n", "line 2: no ':'"},
		{"continuation first", " foo\nA: b\n", "line 1: continuation line before any field"},
		{"continuation after blank", "A: b\n\n foo\n", "line 3: continuation line before any field"},
		{"duplicate", "A: 1\nB: 2\na: 3\n", `line 3: duplicate field "a" (first on line 1)`},
		{"empty name", ": x\n", "invalid field name"},
		{"dash name", "-----BEGIN PGP SIGNATURE: x\n", "invalid field name"},
		{"space in name", "Foo Bar: x\n", "invalid field name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readAll(t, tt.in)
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("err = %v, want ErrSyntax", err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("err = %q, want it to contain %q", err, tt.wantMsg)
			}
		})
	}
}

func TestReadParagraphsCallbackError(t *testing.T) {
	stop := errors.New("stop")
	n := 0
	err := ReadParagraphs(strings.NewReader("A: 1\n\nA: 2\n\nA: 3\n"), func(Paragraph) error {
		n++
		if n == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 2 {
		t.Fatalf("err = %v after %d paragraphs, want stop after 2", err, n)
	}
}

// TestPackagesExcerpt reads stanzas copied from a bookworm main amd64 Packages index and checks that
// writing them back reproduces the file byte for byte.
func TestPackagesExcerpt(t *testing.T) {
	data, err := os.ReadFile("testdata/Packages.excerpt")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	byName := map[string]Paragraph{}
	err = ReadParagraphs(bytes.NewReader(data), func(p Paragraph) error {
		byName[p.Get("Package")] = p
		if _, err := p.WriteTo(&out); err != nil {
			return err
		}
		out.WriteByte('\n')
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(byName) != 9 {
		t.Errorf("got %d paragraphs, want 9", len(byName))
	}
	if !bytes.Equal(out.Bytes(), data) {
		t.Errorf("round trip differs:\n%s", out.String())
	}
	libc := byName["libc6"]
	for name, want := range map[string]string{
		"version":        "2.36-9+deb12u14",
		"SOURCE":         "glibc",
		"Multi-Arch":     "same",
		"Installed-Size": "13001",
	} {
		if got := libc.Get(name); got != want {
			t.Errorf("libc6 %s = %q, want %q", name, got, want)
		}
	}
	if _, ok := libc.Lookup("Essential"); ok {
		t.Error("libc6 has no Essential field, Lookup found one")
	}
	if v, ok := byName["base-files"].Lookup("essential"); !ok || v != "yes" {
		t.Errorf("base-files Essential = %q, %v", v, ok)
	}
	if got, want := byName["base-files"].Get("Tag"), "admin::configuring, admin::filesystem, admin::install, admin::login,\nrole::app-data, suite::debian"; got != want {
		t.Errorf("base-files Tag = %q, want %q", got, want)
	}
}

func TestParseParagraph(t *testing.T) {
	data, err := os.ReadFile("testdata/control.hello")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParseParagraph(data)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(p.Fields); got != 13 {
		t.Errorf("got %d fields, want 13", got)
	}
	if got := p.Fields[0]; got != (Field{"Package", "hello"}) {
		t.Errorf("first field = %v", got)
	}
	var out bytes.Buffer
	if _, err := p.WriteTo(&out); err != nil {
		t.Fatal(err)
	}
	if out.String() != string(data) {
		t.Errorf("WriteTo = %q, want %q", out.String(), data)
	}

	for _, in := range []string{"", "\n\n# only a comment\n", "A: 1\n\nB: 2\n", "A 1\n"} {
		if _, err := ParseParagraph([]byte(in)); !errors.Is(err, ErrSyntax) {
			t.Errorf("ParseParagraph(%q) err = %v, want ErrSyntax", in, err)
		}
	}
}

func TestWriteToRejects(t *testing.T) {
	for _, p := range []Paragraph{
		fields("A", " leading"),
		fields("A", "trailing "),
		fields("A", "x\r"),
		fields("A", "x\n\ny"),
		fields("A", "x\n \ny"),
		fields("A", "x\ny\r"),
		fields("A B", "x"),
		fields("", "x"),
		fields("#A", "x"),
	} {
		var b bytes.Buffer
		if _, err := p.WriteTo(&b); !errors.Is(err, ErrSyntax) {
			t.Errorf("WriteTo(%q) err = %v, want ErrSyntax", p.Fields, err)
		}
	}
}

func BenchmarkReadParagraphs(b *testing.B) {
	one, err := os.ReadFile("testdata/Packages.excerpt")
	if err != nil {
		b.Fatal(err)
	}
	// About 45 MB, the size of a bookworm main amd64 Packages index.
	data := bytes.Repeat(one, 45<<20/len(one))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		err := ReadParagraphs(bytes.NewReader(data), func(Paragraph) error { n++; return nil })
		if err != nil {
			b.Fatal(err)
		}
	}
}
