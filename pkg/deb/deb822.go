package deb

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Field is one "Name: value" entry of a deb822 paragraph.
type Field struct{ Name, Value string }

// Paragraph is one deb822 stanza; Fields keep file order.
type Paragraph struct{ Fields []Field }

// Get returns the value of the field called name, compared case-insensitively as deb822 requires, or ""
// when the field is absent.
func (p Paragraph) Get(name string) string {
	v, _ := p.Lookup(name)
	return v
}

// Lookup returns the value of the field called name (case-insensitive) and whether it is present.
func (p Paragraph) Lookup(name string) (string, bool) {
	for _, f := range p.Fields {
		if len(f.Name) == len(name) && strings.EqualFold(f.Name, name) {
			return f.Value, true
		}
	}
	return "", false
}

// ErrSyntax is wrapped by every deb822 parse error.
var ErrSyntax = errors.New("deb: deb822 syntax error")

// internLimit bounds the per-call table of field names, so a hostile index with millions of distinct
// field names costs allocations rather than an unbounded map.
const internLimit = 4096

// paragraphReader holds the scratch state of one ReadParagraphs call. Values of a paragraph are copied
// into buf and converted to a single string when the paragraph ends, so a stanza costs two allocations
// (that string and its Fields slice) however many fields it has.
type paragraphReader struct {
	br     *bufio.Reader
	line   int
	long   []byte // assembles lines longer than the bufio buffer
	buf    []byte
	spans  []span
	names  map[string]string
	fields int // len(Fields) of the previous paragraph, to size the next
}

type span struct {
	name       string
	start, end int
	line       int
}

// readLine returns the next line without its line terminator. The slice is valid until the next call.
func (r *paragraphReader) readLine() ([]byte, error) {
	b, err := r.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		r.long = append(r.long[:0], b...)
		for errors.Is(err, bufio.ErrBufferFull) {
			b, err = r.br.ReadSlice('\n')
			r.long = append(r.long, b...)
		}
		b = r.long
	}
	if err != nil && (err != io.EOF || len(b) == 0) {
		return nil, err
	}
	r.line++
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b, nil
}

func (r *paragraphReader) intern(name []byte) string {
	if s, ok := r.names[string(name)]; ok {
		return s
	}
	s := string(name)
	if len(r.names) < internLimit {
		r.names[s] = s
	}
	return s
}

// IsBlank reports whether a deb822 line (without its newline) separates paragraphs: it is empty or
// holds only spaces and tabs. Readers that scan deb822 text without ReadParagraphs use it to cut
// paragraphs where ReadParagraphs does.
func IsBlank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' {
			return false
		}
	}
	return true
}

// TrimSpace drops the spaces and tabs around a field's value, as ReadParagraphs does.
func TrimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// validFieldName reports whether name is a deb822 field name: printable ASCII without spaces or colons,
// not starting with '#' or '-'.
func validFieldName(name []byte) bool {
	if len(name) == 0 || name[0] == '#' || name[0] == '-' {
		return false
	}
	for _, c := range name {
		if c <= ' ' || c >= 0x7f || c == ':' {
			return false
		}
	}
	return true
}

// flush hands the paragraph collected so far to fn.
func (r *paragraphReader) flush(fn func(Paragraph) error) error {
	if len(r.spans) == 0 {
		return nil
	}
	all := string(r.buf)
	fields := make([]Field, len(r.spans))
	for i, s := range r.spans {
		fields[i] = Field{Name: s.name, Value: all[s.start:s.end]}
	}
	r.fields = len(fields)
	r.buf = r.buf[:0]
	r.spans = r.spans[:0]
	return fn(Paragraph{Fields: fields})
}

// ReadParagraphs parses the deb822 stream r and calls fn for every paragraph in order, stopping at the
// first error fn returns. Paragraphs are separated by lines that are empty or hold only spaces and tabs;
// lines starting with '#' are comments. The value of a multi-line field is its first line, trimmed,
// followed by "\n" and each continuation line without its single leading space or tab, so Description
// and checksum lists round-trip through WriteTo.
func ReadParagraphs(r io.Reader, fn func(Paragraph) error) error {
	return readParagraphs(&paragraphReader{br: bufio.NewReaderSize(r, 256<<10), names: make(map[string]string, 64)}, fn)
}

// readParagraphs is ReadParagraphs over a reader the caller sized: a stream's buffer is large, one
// paragraph's (a Packages stanza parsed on its own, many times over) is its own size.
func readParagraphs(pr *paragraphReader, fn func(Paragraph) error) error {
	for {
		line, err := pr.readLine()
		if errors.Is(err, io.EOF) {
			return pr.flush(fn)
		}
		if err != nil {
			return fmt.Errorf("reading deb822 line %d: %w", pr.line+1, err)
		}
		switch {
		case len(line) > 0 && line[0] == '#':
			// Comment.
		case IsBlank(line):
			if err := pr.flush(fn); err != nil {
				return err
			}
		case line[0] == ' ' || line[0] == '\t':
			if len(pr.spans) == 0 {
				return fmt.Errorf("%w: line %d: continuation line before any field", ErrSyntax, pr.line)
			}
			last := &pr.spans[len(pr.spans)-1]
			pr.buf = append(pr.buf, '\n')
			pr.buf = append(pr.buf, line[1:]...)
			last.end = len(pr.buf)
		default:
			colon := bytes.IndexByte(line, ':')
			if colon < 0 {
				return fmt.Errorf("%w: line %d: no ':' in field line %.40q", ErrSyntax, pr.line, line)
			}
			name := line[:colon]
			if !validFieldName(name) {
				return fmt.Errorf("%w: line %d: invalid field name %.40q", ErrSyntax, pr.line, name)
			}
			for _, s := range pr.spans {
				if len(s.name) == len(name) && strings.EqualFold(s.name, string(name)) {
					return fmt.Errorf("%w: line %d: duplicate field %q (first on line %d)", ErrSyntax, pr.line, name, s.line)
				}
			}
			if len(pr.spans) == 0 && cap(pr.spans) < pr.fields {
				pr.spans = make([]span, 0, pr.fields)
			}
			start := len(pr.buf)
			pr.buf = append(pr.buf, TrimSpace(line[colon+1:])...)
			pr.spans = append(pr.spans, span{name: pr.intern(name), start: start, end: len(pr.buf), line: pr.line})
		}
	}
}

// ParseParagraph parses data holding exactly one paragraph, such as a DEBIAN/control file.
func ParseParagraph(data []byte) (Paragraph, error) {
	var (
		p Paragraph
		n int
	)
	// The buffer holds the whole paragraph, so no line is read twice; a map for field names to
	// intern pays only across paragraphs.
	pr := &paragraphReader{br: bufio.NewReaderSize(bytes.NewReader(data), len(data)+1), names: map[string]string{}}
	err := readParagraphs(pr, func(q Paragraph) error {
		n++
		if n > 1 {
			return fmt.Errorf("%w: more than one paragraph", ErrSyntax)
		}
		p = q
		return nil
	})
	if err != nil {
		return Paragraph{}, err
	}
	if n == 0 {
		return Paragraph{}, fmt.Errorf("%w: no paragraph", ErrSyntax)
	}
	return p, nil
}

// WriteTo writes p in deb822 form, one "Name: value" line per field plus continuation lines, without a
// trailing blank line (callers separate paragraphs). It refuses fields that ReadParagraphs would not
// read back identically, such as an empty continuation line or a value with surrounding spaces.
func (p Paragraph) WriteTo(w io.Writer) (int64, error) {
	var b bytes.Buffer
	for _, f := range p.Fields {
		if !validFieldName([]byte(f.Name)) {
			return 0, fmt.Errorf("%w: writing field %.40q: invalid field name", ErrSyntax, f.Name)
		}
		b.WriteString(f.Name)
		b.WriteByte(':')
		first, rest, multi := strings.Cut(f.Value, "\n")
		if strings.Trim(first, " \t") != first || strings.HasSuffix(first, "\r") {
			return 0, fmt.Errorf("%w: writing field %s: first line has surrounding whitespace", ErrSyntax, f.Name)
		}
		if first != "" {
			b.WriteByte(' ')
			b.WriteString(first)
		}
		for multi {
			var l string
			l, rest, multi = strings.Cut(rest, "\n")
			if IsBlank([]byte(l)) || strings.HasSuffix(l, "\r") {
				return 0, fmt.Errorf("%w: writing field %s: blank continuation line (use \" .\")", ErrSyntax, f.Name)
			}
			b.WriteString("\n ")
			b.WriteString(l)
		}
		b.WriteByte('\n')
	}
	n, err := w.Write(b.Bytes())
	return int64(n), err
}
