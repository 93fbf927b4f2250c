package vuln

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"time"

	"github.com/ingot-build/ingot/pkg/evidence"
)

// ErrCorruptIndex is wrapped by every error reading an index file that is not as ingot wrote it.
var ErrCorruptIndex = errors.New("vuln: corrupt index")

// An index file holds one source's data:
//
//	"INGOTVDB" formatVersion(1 byte) headerLength(uint32 BE) header(JSON) sections...
//
// The header lists the ecosystems, each with the offset of its section after the header. A section is
// a package directory followed by the package blobs:
//
//	count(uint32 BE) entryOffset(uint32 BE)×count  entries: name(uvarint len + bytes) blobOffset blobLength (uvarints)
//	blobs: per package, its advisories (see encodeAdvisories)
//
// Directory entries are sorted by name and found by binary search without decoding the others, and a
// match reads only the blobs of the packages it looks up, so the cost of a match follows the size of
// the inventory, not of the database.
const (
	indexMagic   = "INGOTVDB"
	indexFormat  = 1
	indexSuffix  = ".vdb"
	maxHeaderLen = 16 << 20
)

// indexHeader is the JSON header of an index file.
type indexHeader struct {
	Name       string    `json:"name"`
	Origin     string    `json:"origin"`
	Imported   time.Time `json:"imported"`
	Modified   time.Time `json:"modified,omitzero"`
	Records    int       `json:"records"`
	Withdrawn  int       `json:"withdrawn"`
	Requested  []string  `json:"requested,omitempty"`
	Ecosystems []section `json:"ecosystems"`
}

// section locates one ecosystem's data.
type section struct {
	Name      string `json:"name"`
	Records   int    `json:"records"`
	Withdrawn int    `json:"withdrawn"`
	Packages  int    `json:"packages"`
	Offset    int64  `json:"offset"`
	DirLength int64  `json:"dirLength"`
	Length    int64  `json:"length"`
}

// advisory is one record's data for one package, as stored in the index.
type advisory struct {
	ID         string
	Aliases    []string
	Summary    string
	Details    string
	Withdrawn  bool
	Severity   evidence.Severity
	CVSS       []evidence.CVSS
	References []string
	Ranges     []versionRange
	Versions   []string
}

// versionRange is a range of an affected entry; ranges of types ingot cannot order keep their type
// and no events.
type versionRange struct {
	Type   string
	Events []event
}

type event struct {
	Kind    byte
	Version string
}

// encoder appends to a byte slice.
type encoder struct{ b []byte }

func (e *encoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) str(s string)     { e.uvarint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *encoder) strs(ss []string) {
	e.uvarint(uint64(len(ss)))
	for _, s := range ss {
		e.str(s)
	}
}

func (e *encoder) advisories(as []advisory) {
	e.uvarint(uint64(len(as)))
	for _, a := range as {
		e.str(a.ID)
		e.strs(a.Aliases)
		e.str(a.Summary)
		e.str(a.Details)
		var flags uint64
		if a.Withdrawn {
			flags = 1
		}
		e.uvarint(flags)
		e.uvarint(uint64(a.Severity))
		e.uvarint(uint64(len(a.CVSS)))
		for _, c := range a.CVSS {
			e.str(c.Version)
			e.str(c.Vector)
			e.uvarint(math.Float64bits(c.Score))
		}
		e.strs(a.References)
		e.uvarint(uint64(len(a.Ranges)))
		for _, r := range a.Ranges {
			e.str(r.Type)
			e.uvarint(uint64(len(r.Events)))
			for _, ev := range r.Events {
				e.b = append(e.b, ev.Kind)
				e.str(ev.Version)
			}
		}
		e.strs(a.Versions)
	}
}

// decoder reads what encoder wrote, failing on anything out of bounds.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = ErrCorruptIndex
	}
	d.b = nil
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a length that must fit in what is left, each element taking at least min bytes.
func (d *decoder) count(min int) int {
	n := d.uvarint()
	if n > uint64(len(d.b)/min) {
		d.fail()
		return 0
	}
	return int(n)
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) str() string {
	n := d.count(1)
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) strs() []string {
	n := d.count(1)
	if n == 0 {
		return nil
	}
	ss := make([]string, n)
	for i := range ss {
		ss[i] = d.str()
	}
	return ss
}

func (d *decoder) advisories() []advisory {
	as := make([]advisory, d.count(8))
	for i := range as {
		a := &as[i]
		a.ID = d.str()
		a.Aliases = d.strs()
		a.Summary = d.str()
		a.Details = d.str()
		a.Withdrawn = d.uvarint()&1 != 0
		a.Severity = evidence.Severity(min(d.uvarint(), uint64(evidence.SeverityCritical)))
		if n := d.count(3); n > 0 {
			a.CVSS = make([]evidence.CVSS, n)
			for j := range a.CVSS {
				a.CVSS[j] = evidence.CVSS{Version: d.str(), Vector: d.str(), Score: math.Float64frombits(d.uvarint())}
			}
		}
		a.References = d.strs()
		if n := d.count(2); n > 0 {
			a.Ranges = make([]versionRange, n)
			for j := range a.Ranges {
				r := &a.Ranges[j]
				r.Type = d.str()
				if m := d.count(2); m > 0 {
					r.Events = make([]event, m)
					for k := range r.Events {
						r.Events[k] = event{Kind: d.byte(), Version: d.str()}
					}
				}
			}
		}
		a.Versions = d.strs()
	}
	if d.err != nil {
		return nil
	}
	return as
}

// encodeSection writes one ecosystem's packages (name → advisories) as a directory and blobs.
func encodeSection(pkgs map[string][]advisory) (data []byte, dirLen int64) {
	names := make([]string, 0, len(pkgs))
	for n := range pkgs {
		names = append(names, n)
	}
	sort.Strings(names)
	var blobs encoder
	var entries encoder
	offsets := make([]uint32, len(names))
	for i, n := range names {
		start := len(blobs.b)
		blobs.advisories(pkgs[n])
		offsets[i] = uint32(len(entries.b))
		entries.str(n)
		entries.uvarint(uint64(start))
		entries.uvarint(uint64(len(blobs.b) - start))
	}
	dir := make([]byte, 0, 4+4*len(names)+len(entries.b))
	dir = binary.BigEndian.AppendUint32(dir, uint32(len(names)))
	base := uint32(4 + 4*len(names))
	for _, o := range offsets {
		dir = binary.BigEndian.AppendUint32(dir, base+o)
	}
	dir = append(dir, entries.b...)
	return append(dir, blobs.b...), int64(len(dir))
}

// writeIndex writes a whole index file: the header, then each ecosystem's section.
func writeIndex(w io.Writer, h indexHeader, ecosystems map[string]map[string][]advisory) error {
	names := make([]string, 0, len(ecosystems))
	for n := range ecosystems {
		names = append(names, n)
	}
	sort.Strings(names)
	var sections [][]byte
	var off int64
	bySection := map[string]section{}
	for _, s := range h.Ecosystems {
		bySection[s.Name] = s
	}
	h.Ecosystems = h.Ecosystems[:0]
	for _, n := range names {
		data, dirLen := encodeSection(ecosystems[n])
		s := bySection[n]
		s.Name, s.Packages, s.Offset, s.DirLength, s.Length = n, len(ecosystems[n]), off, dirLen, int64(len(data))
		h.Ecosystems = append(h.Ecosystems, s)
		sections = append(sections, data)
		off += int64(len(data))
	}
	hdr, err := json.Marshal(h)
	if err != nil {
		return err
	}
	if len(hdr) > maxHeaderLen {
		return fmt.Errorf("index header of %d bytes is too large", len(hdr))
	}
	buf := make([]byte, 0, len(indexMagic)+5+len(hdr))
	buf = append(buf, indexMagic...)
	buf = append(buf, indexFormat)
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(hdr)))
	buf = append(buf, hdr...)
	if _, err := w.Write(buf); err != nil {
		return err
	}
	for _, s := range sections {
		if _, err := w.Write(s); err != nil {
			return err
		}
	}
	return nil
}

// indexFile is an open index file.
type indexFile struct {
	path   string
	f      *os.File
	header indexHeader
	data   int64 // offset of the first section
}

// openIndex opens an index file and reads its header.
func openIndex(path string) (*indexFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	x, err := readHeader(path, f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return x, nil
}

func readHeader(path string, f *os.File) (*indexFile, error) {
	pre := make([]byte, len(indexMagic)+5)
	if _, err := io.ReadFull(f, pre); err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrCorruptIndex, path, err)
	}
	if string(pre[:len(indexMagic)]) != indexMagic {
		return nil, fmt.Errorf("%w %s: not an ingot vulnerability index", ErrCorruptIndex, path)
	}
	if pre[len(indexMagic)] != indexFormat {
		return nil, fmt.Errorf("%w %s: index format %d, this ingot reads %d (import the source again)", ErrCorruptIndex, path, pre[len(indexMagic)], indexFormat)
	}
	n := binary.BigEndian.Uint32(pre[len(indexMagic)+1:])
	if n > maxHeaderLen {
		return nil, fmt.Errorf("%w %s: header of %d bytes", ErrCorruptIndex, path, n)
	}
	hdr := make([]byte, n)
	if _, err := io.ReadFull(f, hdr); err != nil {
		return nil, fmt.Errorf("%w %s: header: %w", ErrCorruptIndex, path, err)
	}
	x := &indexFile{path: path, f: f, data: int64(len(pre)) + int64(n)}
	if err := json.Unmarshal(hdr, &x.header); err != nil {
		return nil, fmt.Errorf("%w %s: header: %w", ErrCorruptIndex, path, err)
	}
	return x, nil
}

func (x *indexFile) Close() error { return x.f.Close() }

// sectionReader gives access to one ecosystem's packages.
type sectionReader struct {
	x   *indexFile
	s   section
	dir []byte
}

// section returns the reader for ecosystem eco, or nil when the source has no data for it.
func (x *indexFile) section(eco string) (*sectionReader, error) {
	i := slices.IndexFunc(x.header.Ecosystems, func(s section) bool { return s.Name == eco })
	if i < 0 {
		return nil, nil
	}
	s := x.header.Ecosystems[i]
	if s.DirLength < 4 || s.DirLength > s.Length || s.Offset < 0 {
		return nil, fmt.Errorf("%w %s: section %s", ErrCorruptIndex, x.path, eco)
	}
	dir := make([]byte, s.DirLength)
	if _, err := x.f.ReadAt(dir, x.data+s.Offset); err != nil {
		return nil, fmt.Errorf("%w %s: section %s: %w", ErrCorruptIndex, x.path, eco, err)
	}
	if n := binary.BigEndian.Uint32(dir); int64(n) > (s.DirLength-4)/4 {
		return nil, fmt.Errorf("%w %s: section %s: directory of %d entries", ErrCorruptIndex, x.path, eco, n)
	}
	return &sectionReader{x: x, s: s, dir: dir}, nil
}

// entry reads directory entry i: the name and where its blob is.
func (r *sectionReader) entry(i int) (name []byte, off, length uint64, err error) {
	p := binary.BigEndian.Uint32(r.dir[4+4*i:])
	if int64(p) >= int64(len(r.dir)) {
		return nil, 0, 0, ErrCorruptIndex
	}
	d := decoder{b: r.dir[p:]}
	n := d.count(1)
	name = d.b[:n]
	d.b = d.b[n:]
	off, length = d.uvarint(), d.uvarint()
	return name, off, length, d.err
}

// lookup returns the advisories stored for package name, nil when there are none.
func (r *sectionReader) lookup(name string) ([]advisory, error) {
	n := int(binary.BigEndian.Uint32(r.dir))
	want := []byte(name)
	var ferr error
	i := sort.Search(n, func(i int) bool {
		e, _, _, err := r.entry(i)
		if err != nil {
			ferr = err
			return true
		}
		return bytes.Compare(e, want) >= 0
	})
	if ferr != nil {
		return nil, fmt.Errorf("%w %s: section %s directory", ErrCorruptIndex, r.x.path, r.s.Name)
	}
	if i >= n {
		return nil, nil
	}
	e, off, length, err := r.entry(i)
	if err != nil {
		return nil, fmt.Errorf("%w %s: section %s directory", ErrCorruptIndex, r.x.path, r.s.Name)
	}
	if !bytes.Equal(e, want) {
		return nil, nil
	}
	if int64(off) > r.s.Length || int64(length) > r.s.Length-r.s.DirLength-int64(off) {
		return nil, fmt.Errorf("%w %s: section %s: package %s out of bounds", ErrCorruptIndex, r.x.path, r.s.Name, name)
	}
	blob := make([]byte, length)
	if _, err := r.x.f.ReadAt(blob, r.x.data+r.s.Offset+r.s.DirLength+int64(off)); err != nil {
		return nil, fmt.Errorf("%w %s: section %s: package %s: %w", ErrCorruptIndex, r.x.path, r.s.Name, name, err)
	}
	d := decoder{b: blob}
	as := d.advisories()
	if d.err != nil || len(d.b) != 0 {
		return nil, fmt.Errorf("%w %s: section %s: package %s", ErrCorruptIndex, r.x.path, r.s.Name, name)
	}
	return as, nil
}
