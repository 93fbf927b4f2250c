package apt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/ingot-build/ingot/pkg/deb"
)

// A lock needs a few hundred of the 60,000 stanzas of Debian's main index, but parsing them all (and
// collecting what that allocates) was most of a cold lock: 0.6 s of CPU for 48 MiB of text. An Index
// holds the verified, decompressed text and a table of its stanzas, made by one pass over its lines
// that reads only the Package, Architecture and Provides fields; a stanza is parsed (ParsePackage,
// exactly as Packages parses it) the first time a resolution asks for its name or for a name it
// provides, and kept. NewIndexUniverse resolves over Indexes.

// Index is one verified Packages index, parsed as its stanzas are asked for. It is safe for
// concurrent use.
type Index struct {
	repo     string
	text     []byte
	stanzas  []stanza
	byName   map[string][]int32 // stanzas by their Package field, in index order
	provides map[string][]int32 // stanzas whose Provides names the key, in index order

	mu     sync.Mutex
	parsed []*Package // by stanza, once parsed
	errs   []error    // by stanza, when parsing failed
}

// stanza is one paragraph of the text and what the scan read of it.
type stanza struct {
	off, end int
	name     string
	arch     string
}

// Packages parses every stanza, as Packages would: for what needs them all, not for a lock. A
// stanza that does not parse is an error.
func (ix *Index) Packages() ([]*Package, error) {
	pkgs, errs := ix.Parsed()
	if len(errs) > 0 {
		return nil, errs[0]
	}
	return pkgs, nil
}

// Parsed parses every stanza and returns those that parse, in index order, and an error for each
// one that does not: for recording what a repository holds, where one broken stanza must not hide
// the rest.
func (ix *Index) Parsed() (pkgs []*Package, errs []error) {
	pkgs = make([]*Package, 0, len(ix.stanzas))
	for i := range ix.stanzas {
		p, err := ix.pkg(int32(i))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		pkgs = append(pkgs, p)
	}
	return pkgs, errs
}

// Len is the number of stanzas in the index.
func (ix *Index) Len() int { return len(ix.stanzas) }

// pkg returns stanza i parsed; the first call parses it, under the index's lock.
func (ix *Index) pkg(i int32) (*Package, error) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if p := ix.parsed[i]; p != nil || ix.errs[i] != nil {
		return p, ix.errs[i]
	}
	s := ix.stanzas[i]
	para, err := deb.ParseParagraph(ix.text[s.off:s.end])
	var p *Package
	if err == nil {
		p, err = ParsePackage(para)
	}
	switch {
	case err != nil:
	case p.Name != s.name || p.Architecture != s.arch:
		err = fmt.Errorf("%w: the stanza at byte %d reads as %s/%s in one pass and %s/%s in another", ErrInvalidPackage, s.off, s.name, s.arch, p.Name, p.Architecture)
	default:
		p.Repository = ix.repo
	}
	if err != nil {
		ix.errs[i] = fmt.Errorf("stanza of %q at byte %d of the index: %w", s.name, s.off, err)
		return nil, ix.errs[i]
	}
	ix.parsed[i] = p
	return p, nil
}

// NewIndex scans the decompressed text of a Packages index of repository repo. A stanza without a
// Package field, a field line without ':' or a continuation line before any field is an error, as it
// is for Packages; everything else a stanza holds is checked when it is parsed. The text is scanned
// in parts, one per core, cut at empty lines.
func NewIndex(repo string, text []byte) (*Index, error) {
	parts := cutParts(text, runtime.GOMAXPROCS(0))
	scans := make([]*scanner, len(parts)-1)
	errs := make([]error, len(scans))
	var wg sync.WaitGroup
	for i := range scans {
		scans[i] = &scanner{off: parts[i], lineBase: func() int { return bytes.Count(text[:parts[i]], []byte("\n")) }}
		wg.Go(func() { errs[i] = scans[i].scan(text[:parts[i+1]], true) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err // the first in the text
		}
	}
	return newIndex(repo, text, scans...), nil
}

// newIndex makes the index of text from what scans found in it, in order.
func newIndex(repo string, text []byte, scans ...*scanner) *Index {
	n := 0
	for _, sc := range scans {
		n += len(sc.out)
	}
	ix := emptyIndex(repo, n)
	for _, sc := range scans {
		ix.add(sc.out)
	}
	return ix.done(text)
}

// emptyIndex is an index of repo being filled, sized for about n stanzas.
func emptyIndex(repo string, n int) *Index {
	return &Index{repo: repo, byName: make(map[string][]int32, n), provides: make(map[string][]int32, n/8), stanzas: make([]stanza, 0, n)}
}

// add appends stanzas the scan found, in order.
func (ix *Index) add(found []scanned) {
	for _, f := range found {
		i := int32(len(ix.stanzas)) //nolint:gosec // G115: an index is at most maxIndexSize (1 GiB) and a stanza over 10 bytes: far below 2^31 stanzas
		ix.stanzas = append(ix.stanzas, f.stanza)
		ix.byName[f.name] = append(ix.byName[f.name], i)
		for _, p := range f.provides {
			if l := ix.provides[p]; len(l) == 0 || l[len(l)-1] != i {
				ix.provides[p] = append(l, i)
			}
		}
	}
}

// done completes an index filled by add, over its text.
func (ix *Index) done(text []byte) *Index {
	ix.text = text
	ix.parsed = make([]*Package, len(ix.stanzas))
	ix.errs = make([]error, len(ix.stanzas))
	return ix
}

// cutParts cuts text into at most n parts at empty lines (which always end a stanza), returning
// their n+1 bounds or fewer.
func cutParts(text []byte, n int) []int {
	bounds := []int{0}
	for i := 1; i < n; i++ {
		at := len(text) * i / n
		if at <= bounds[len(bounds)-1] {
			continue
		}
		cut := bytes.Index(text[at:], []byte("\n\n"))
		if cut < 0 {
			break
		}
		bounds = append(bounds, at+cut+2)
	}
	return append(bounds, len(text))
}

// scanned is a stanza as the scan found it, with the names its Provides lists.
type scanned struct {
	stanza
	provides []string
}

// scanner reads the lines of a text that may still be arriving: each scan takes the whole lines
// from where the last one stopped.
type scanner struct {
	off      int // where the next line starts
	out      []scanned
	cur      stanza
	provides []byte
	fields   int
	last     string // the field the previous line belongs to, of those read: "Package", ...
	line     int
	lineBase func() int // lines before the first scanned, for messages
}

func (sc *scanner) lineNo() int {
	if sc.lineBase == nil {
		return sc.line
	}
	return sc.lineBase() + sc.line
}

func (sc *scanner) flush(end int) error {
	if sc.fields == 0 {
		return nil
	}
	sc.cur.end = end
	if sc.cur.name == "" {
		return fmt.Errorf("%w: the stanza at byte %d has no Package field", ErrInvalidPackage, sc.cur.off)
	}
	sc.out = append(sc.out, scanned{stanza: sc.cur, provides: providedNames(sc.provides)})
	sc.cur, sc.provides, sc.fields, sc.last = stanza{}, sc.provides[:0], 0, ""
	return nil
}

// scan reads the lines of text from sc.off: the whole lines, or with final all of it, the last line
// and stanza included.
func (sc *scanner) scan(text []byte, final bool) error {
	for sc.off < len(text) {
		off := sc.off
		end := bytes.IndexByte(text[off:], '\n')
		next := off + end + 1
		if end < 0 {
			if !final {
				return nil // the line is not all there yet
			}
			end, next = len(text)-off, len(text)
		}
		sc.line++
		sc.off = next
		l := text[off : off+end]
		if n := len(l); n > 0 && l[n-1] == '\r' {
			l = l[:n-1]
		}
		switch {
		case len(l) > 0 && l[0] == '#':
		case deb.IsBlank(l):
			if err := sc.flush(off); err != nil {
				return err
			}
		case l[0] == ' ' || l[0] == '\t':
			if sc.fields == 0 {
				return fmt.Errorf("%w: line %d: continuation line before any field", deb.ErrSyntax, sc.lineNo())
			}
			// A multi-line value, as ReadParagraphs reads it: a Package or Architecture that has
			// one does not parse, but must be the same here.
			switch sc.last {
			case "Package":
				sc.cur.name += "\n" + string(l[1:])
			case "Architecture":
				sc.cur.arch += "\n" + string(l[1:])
			case "Provides":
				sc.provides = append(append(sc.provides, ','), l...)
			}
		default:
			colon := bytes.IndexByte(l, ':')
			if colon < 0 {
				return fmt.Errorf("%w: line %d: no ':' in field line %.40q", deb.ErrSyntax, sc.lineNo(), l)
			}
			if sc.fields == 0 {
				sc.cur.off = off
			}
			sc.fields++
			// Only three fields are read: the rest of the line is left to the stanza's parse.
			sc.last = ""
			switch name := l[:colon]; {
			case len(name) == len("Package") && bytes.EqualFold(name, []byte("Package")):
				sc.cur.name, sc.last = string(deb.TrimSpace(l[colon+1:])), "Package"
			case len(name) == len("Architecture") && bytes.EqualFold(name, []byte("Architecture")):
				sc.cur.arch, sc.last = internArch(deb.TrimSpace(l[colon+1:])), "Architecture"
			case len(name) == len("Provides") && bytes.EqualFold(name, []byte("Provides")):
				sc.provides, sc.last = append(sc.provides[:0], deb.TrimSpace(l[colon+1:])...), "Provides"
			}
		}
	}
	if final {
		return sc.flush(len(text))
	}
	return nil
}

// internArch spares an allocation per stanza for the architectures an index holds.
func internArch(b []byte) string {
	switch string(b) {
	case "all":
		return "all"
	case "amd64":
		return "amd64"
	case "arm64":
		return "arm64"
	}
	return string(b)
}

// providedNames are the names a raw Provides value lists: each entry's leading run of package-name
// characters. A malformed entry may give a name its parse does not; the stanza is parsed before it
// provides anything, so the table only has to hold every name a well-formed Provides gives.
func providedNames(v []byte) []string {
	var out []string
	for len(v) > 0 {
		entry := v
		if c := bytes.IndexByte(v, ','); c >= 0 {
			entry, v = v[:c], v[c+1:]
		} else {
			v = nil
		}
		entry = bytes.TrimLeft(entry, " \t")
		n := 0
		for n < len(entry) && isNameByte(entry[n]) {
			n++
		}
		if n > 0 {
			out = append(out, string(entry[:n]))
		}
	}
	return out
}

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.' || c == '_'
}

// Index returns the Packages index of component and arch, verified as Packages verifies it, held
// decompressed and parsed as its stanzas are asked for (see Index). The IndexFile used is returned
// for the lock.
func (c *Client) Index(ctx context.Context, src Source, rel *Release, component, arch string) (IndexFile, *Index, error) {
	src = src.WithDefaults()
	idx, err := c.pickIndex(src, rel, component, arch)
	if err != nil {
		return IndexFile{}, nil, err
	}
	if c.Texts != nil {
		// A cached text has matched the signed hash, so it is the index itself: one that does not
		// scan would not scan read again either.
		if text, err := c.Texts.Load(idx.SHA256); err == nil {
			ix, err := NewIndex(src.Name, text)
			if err != nil {
				return IndexFile{}, nil, fmt.Errorf("%s: %w", idx.Path, err)
			}
			return idx, ix, nil
		}
	}
	ix, err := c.readIndexFile(ctx, src, rel, idx)
	if err != nil {
		return IndexFile{}, nil, err
	}
	return idx, ix, nil
}

// readIndexFile reads and scans the index idx of src (see Index), writing its text to the text cache
// once the index proves to be the one signed.
func (c *Client) readIndexFile(ctx context.Context, src Source, rel *Release, idx IndexFile) (*Index, error) {
	limit := c.maxIndexSize()
	var (
		ix *Index
		tw *textWriter
	)
	err := c.index(ctx, src, rel, idx, func(r io.Reader) error {
		tw.discard() // of an earlier attempt (a damaged cache entry, read again)
		if c.Texts != nil {
			tw = c.Texts.writer(idx.SHA256)
		}
		var err error
		ix, err = readIndex(src.Name, idx, r, limit, tw)
		return err
	})
	if err != nil {
		tw.discard()
		return nil, err
	}
	tw.commit()
	return ix, nil
}

// readIndex decompresses the index idx from r (through its program when it is large, see
// indexDecoder) into memory, within limit, scanning it as it arrives, and giving it to tw (if any):
// the scan and the copy keep up with igzip, so the index is ready when the last of it is.
func readIndex(repo string, idx IndexFile, r io.Reader, limit int64, tw *textWriter) (_ *Index, err error) {
	dr, closeFn, err := decompressIndex(idx.Path, idx.Size, r)
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := closeFn(); err == nil && cerr != nil {
			err = fmt.Errorf("decompressing: %w", cerr)
		}
	}()
	lr := &limitedReader{r: dr, n: limit, limit: limit}
	// Debian's indexes decompress to about 4x; the buffer grows if that is short.
	guess := idx.Size
	if strings.HasSuffix(idx.Path, ".gz") || strings.HasSuffix(idx.Path, ".xz") {
		guess *= 5
	}
	text := make([]byte, 0, min(guess, limit)+1)
	sc := &scanner{}
	// The tables are filled as the stanzas are found, while the rest is still decompressing.
	ix := emptyIndex(repo, int(min(guess, limit)/800))
	for {
		if len(text) == cap(text) {
			text = slices.Grow(text, cap(text))
		}
		n, rerr := lr.Read(text[len(text):cap(text)])
		tw.write(text[len(text) : len(text)+n])
		text = text[:len(text)+n]
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			return nil, fmt.Errorf("decompressing: %w", rerr)
		}
		if err := sc.scan(text, false); err != nil {
			return nil, fmt.Errorf("%s: %w", idx.Path, err)
		}
		ix.add(sc.out)
		sc.out = sc.out[:0]
	}
	if err := sc.scan(text, true); err != nil {
		return nil, fmt.Errorf("%s: %w", idx.Path, err)
	}
	ix.add(sc.out)
	return ix.done(text), nil
}
