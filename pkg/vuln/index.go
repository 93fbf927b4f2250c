package vuln

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"strings"
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
// a package directory, the package blobs, then the advisories' meta blocks:
//
//	directory: count(uint32 BE) entryOffset(uint32 BE)×count, then entries:
//	           name(uvarint length + bytes) blobOffset(uvarint) blobLength(uvarint)
//	blobs:     per package, its advisories with what matching needs (see encoder.advisories)
//	metas:     per advisory, aliases, texts, severity, CVSS and references (shared when equal)
//
// Directory entries are sorted by name and found by binary search without decoding the others; a
// match reads only the blobs of the packages it looks up and the meta blocks of the advisories that
// apply, so its cost follows the inventory and the findings, not the size of the database.
//
// After the ecosystems comes the ratings table (format 2 on), a directory of the same shape keyed by
// vulnerability ID: under each ID, every rated record that has that ID or names it among its aliases,
// with its own rating and what decided it (see rated). A finding whose records carry no rating looks
// up its IDs and aliases there, reading one blob per ID, whatever the size of the data.
//
// Format 3 adds each advisory's publication time at the end of its meta block; format 2 indexes are
// still read, their advisories without it.
const (
	indexMagic  = "INGOTVDB"
	indexFormat = 3
	// oldestFormat is the oldest format this ingot reads.
	oldestFormat = 2
	indexSuffix  = ".vdb"
	maxHeaderLen = 16 << 20
)

// ErrIndexFormat means an index file was written by an ingot that lays indexes out differently
// (older, or newer): nothing is wrong with it, but this ingot cannot read it until the source is
// imported again, which the error says how to do.
var ErrIndexFormat = errors.New("vuln: index written in another format")

// indexHeader is the JSON header of an index file: the source's status, with where each
// ecosystem's data lies.
type indexHeader struct {
	SourceStatus
	Ecosystems []section `json:"ecosystems"` // shadows SourceStatus.Ecosystems in JSON
	// Ratings locates the ratings table; its Records counts the rated records. Nil when no record of
	// the source is rated.
	Ratings *section `json:"ratings,omitempty"`
}

// ratingsName names the ratings table in errors.
const ratingsName = "(ratings)"

// rated is one record's own rating, as the ratings table keeps it.
type rated struct {
	ID       string
	Severity evidence.Severity
	// Basis is the vector or the database's rating that gave Severity.
	Basis string
}

// section locates one ecosystem's data.
type section struct {
	EcosystemStatus
	Offset     int64 `json:"offset"`
	DirLength  int64 `json:"dirLength"`
	BlobLength int64 `json:"blobLength"`
	Length     int64 `json:"length"`
}

// advisory is one record's data for one package, as stored in the index. What a match needs (id,
// withdrawn, ranges, versions) is read with the package; the rest (meta) only for the advisories that
// match.
type advisory struct {
	ID        string
	Withdrawn bool
	Ranges    []versionRange
	Versions  []string

	// Where the meta block is in its section's meta area, until loadMeta reads it.
	metaOff, metaLen int64
	metaPending      bool

	Aliases    []string
	Summary    string
	Details    string
	Severity   evidence.Severity
	CVSS       []evidence.CVSS
	References []string
	// Published is when the record was published (its modified time when it says nothing else);
	// zero when unknown.
	Published time.Time
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

// advisories writes a package's advisories to e: per advisory the id, flags, ranges and versions,
// then the place of its meta block, which goes to metas (one copy per distinct block).
func (e *encoder) advisories(as []advisory, metas *encoder, seen map[string]int) {
	e.uvarint(uint64(len(as)))
	var meta encoder
	for _, a := range as {
		e.str(a.ID)
		var flags uint64
		if a.Withdrawn {
			flags = 1
		}
		e.uvarint(flags)
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
		meta.b = meta.b[:0]
		meta.strs(a.Aliases)
		meta.str(a.Summary)
		meta.str(a.Details)
		meta.uvarint(uint64(max(a.Severity, 0))) //nolint:gosec // G115: clamped to non-negative
		meta.uvarint(uint64(len(a.CVSS)))
		for _, c := range a.CVSS {
			meta.str(c.Version)
			meta.str(c.Vector)
			meta.uvarint(math.Float64bits(c.Score))
		}
		meta.strs(a.References)
		var published uint64
		if !a.Published.IsZero() && a.Published.Unix() > 0 {
			published = uint64(a.Published.Unix()) //nolint:gosec // G115: positive, checked above
		}
		meta.uvarint(published)
		off, ok := seen[string(meta.b)]
		if !ok {
			off = len(metas.b)
			seen[string(meta.b)] = off
			metas.b = append(metas.b, meta.b...)
		}
		e.uvarint(uint64(off))
		e.uvarint(uint64(len(meta.b)))
	}
}

// decoder reads what encoder wrote from a string, so the strings it returns share the string's
// memory instead of each being copied, failing on anything out of bounds.
type decoder struct {
	s   string
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = ErrCorruptIndex
	}
	d.s = ""
}

func (d *decoder) uvarint() uint64 {
	var v uint64
	for i := 0; i < len(d.s) && i < binary.MaxVarintLen64; i++ {
		c := d.s[i]
		if i == binary.MaxVarintLen64-1 && c > 1 {
			break
		}
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			d.s = d.s[i+1:]
			return v
		}
	}
	d.fail()
	return 0
}

// count reads a length that must fit in what is left, each element taking at least min bytes.
func (d *decoder) count(min int) int {
	n := d.uvarint()
	if n > uint64(len(d.s)/min) { //nolint:gosec // G115: min is a positive constant
		d.fail()
		return 0
	}
	return int(n) //nolint:gosec // G115: n is at most len(d.s)
}

func (d *decoder) byte() byte {
	if len(d.s) == 0 {
		d.fail()
		return 0
	}
	c := d.s[0]
	d.s = d.s[1:]
	return c
}

func (d *decoder) str() string {
	n := d.count(1)
	s := d.s[:n]
	d.s = d.s[n:]
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

// advisories reads a package's advisories, without their meta fields.
func (d *decoder) advisories() []advisory {
	as := make([]advisory, d.count(5))
	for i := range as {
		a := &as[i]
		a.ID = d.str()
		a.Withdrawn = d.uvarint()&1 != 0
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
		// Out-of-range values turn negative here and are refused by loadMeta.
		a.metaOff, a.metaLen = int64(d.uvarint()), int64(d.uvarint()) //nolint:gosec // G115: see above
		a.metaPending = true
	}
	if d.err != nil {
		return nil
	}
	return as
}

// loadMeta reads the advisory's meta fields from its section, once.
func (a *advisory) loadMeta(r *sectionReader) error {
	if !a.metaPending {
		return nil
	}
	area := r.s.Length - r.s.DirLength - r.s.BlobLength
	if a.metaOff < 0 || a.metaLen < 0 || a.metaOff > area || a.metaLen > area-a.metaOff {
		return fmt.Errorf("%w %s: section %s: advisory %s out of bounds", ErrCorruptIndex, r.x.path, r.s.Name, a.ID)
	}
	buf := make([]byte, a.metaLen)
	if _, err := r.x.f.ReadAt(buf, r.x.data+r.s.Offset+r.s.DirLength+r.s.BlobLength+a.metaOff); err != nil {
		return fmt.Errorf("%w %s: section %s: advisory %s: %w", ErrCorruptIndex, r.x.path, r.s.Name, a.ID, err)
	}
	d := decoder{s: string(buf)}
	a.Aliases = d.strs()
	a.Summary = d.str()
	a.Details = d.str()
	a.Severity = evidence.Severity(min(d.uvarint(), uint64(evidence.SeverityCritical)))
	if n := d.count(3); n > 0 {
		a.CVSS = make([]evidence.CVSS, n)
		for j := range a.CVSS {
			a.CVSS[j] = evidence.CVSS{Version: d.str(), Vector: d.str(), Score: math.Float64frombits(d.uvarint())}
		}
	}
	a.References = d.strs()
	if r.x.format >= 3 {
		if sec := d.uvarint(); sec > 0 && sec < math.MaxInt64 {
			a.Published = time.Unix(int64(sec), 0).UTC()
		}
	}
	if d.err != nil || d.s != "" {
		return fmt.Errorf("%w %s: section %s: advisory %s", ErrCorruptIndex, r.x.path, r.s.Name, a.ID)
	}
	a.metaPending = false
	return nil
}

// encodeSection writes one ecosystem's packages (name → advisories) as a directory, blobs and metas.
func encodeSection(pkgs map[string][]advisory) (data []byte, dirLen, blobLen int64, err error) {
	var metas encoder
	seen := map[string]int{}
	data, dirLen, blobLen, err = encodeDirectory(pkgs, func(e *encoder, as []advisory) { e.advisories(as, &metas, seen) })
	if err != nil {
		return nil, 0, 0, err
	}
	return append(data, metas.b...), dirLen, blobLen, nil
}

// encodeRatings writes the ratings table (ID → the rated records that have or alias it) as a
// directory and blobs.
func encodeRatings(byID map[string][]rated) (data []byte, dirLen, blobLen int64, err error) {
	return encodeDirectory(byID, func(e *encoder, rs []rated) {
		e.uvarint(uint64(len(rs)))
		for _, r := range rs {
			e.str(r.ID)
			e.uvarint(uint64(max(r.Severity, 0))) //nolint:gosec // G115: clamped to non-negative
			e.str(r.Basis)
		}
	})
}

// encodeDirectory writes entries (name → value) as a directory sorted by name, then the blobs that
// blob writes for each value. The directory's offsets are 32-bit: a directory past 4 GiB (tens of
// millions of names) is refused.
func encodeDirectory[V any](entries map[string]V, blob func(*encoder, V)) (data []byte, dirLen, blobLen int64, err error) {
	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	sort.Strings(names)
	var blobs, dir encoder
	offsets := make([]uint32, len(names))
	for i, n := range names {
		start := len(blobs.b)
		blob(&blobs, entries[n])
		offsets[i] = uint32(len(dir.b)) //nolint:gosec // G115: the total is checked below
		dir.str(n)
		dir.uvarint(uint64(start))
		dir.uvarint(uint64(len(blobs.b) - start)) //nolint:gosec // G115: blobs only grow
	}
	base := 4 + 4*len(names)
	if int64(base)+int64(len(dir.b)) > math.MaxUint32 {
		return nil, 0, 0, fmt.Errorf("directory of %d entries is too large", len(names))
	}
	data = make([]byte, 0, base+len(dir.b)+len(blobs.b))
	data = binary.BigEndian.AppendUint32(data, uint32(len(names))) //nolint:gosec // G115: checked above
	for _, o := range offsets {
		data = binary.BigEndian.AppendUint32(data, uint32(base)+o) //nolint:gosec // G115: checked above
	}
	data = append(data, dir.b...)
	dirLen = int64(len(data))
	data = append(data, blobs.b...)
	return data, dirLen, int64(len(blobs.b)), nil
}

// writeIndex writes a whole index file: the header, then each ecosystem's section, then the ratings
// table.
func writeIndex(w io.Writer, h indexHeader, d indexData) error {
	ecosystems, ratings := d.ecosystems, d.ratings
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
		data, dirLen, blobLen, err := encodeSection(ecosystems[n])
		if err != nil {
			return fmt.Errorf("ecosystem %s: %w", n, err)
		}
		s := bySection[n]
		s.Name, s.Packages, s.Offset, s.DirLength, s.BlobLength, s.Length = n, len(ecosystems[n]), off, dirLen, blobLen, int64(len(data))
		h.Ecosystems = append(h.Ecosystems, s)
		sections = append(sections, data)
		off += int64(len(data))
	}
	h.Ratings = nil
	if len(ratings) > 0 {
		data, dirLen, blobLen, err := encodeRatings(ratings)
		if err != nil {
			return fmt.Errorf("ratings: %w", err)
		}
		records := map[string]bool{}
		for _, rs := range ratings {
			for _, r := range rs {
				records[r.ID] = true
			}
		}
		h.Ratings = &section{EcosystemStatus: EcosystemStatus{Name: ratingsName, Records: len(records)}, Offset: off, DirLength: dirLen, BlobLength: blobLen, Length: int64(len(data))}
		sections = append(sections, data)
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
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(hdr))) //nolint:gosec // G115: at most maxHeaderLen
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
	format byte
}

// openIndex opens an index file and reads its header.
func openIndex(path string) (*indexFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	x, err := readHeader(path, f)
	if err != nil {
		_ = f.Close() // read-only
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
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(pre[len(indexMagic)+1:])
	if n > maxHeaderLen || int64(n) > fi.Size()-int64(len(pre)) {
		return nil, fmt.Errorf("%w %s: header of %d bytes", ErrCorruptIndex, path, n)
	}
	hdr := make([]byte, n)
	if _, err := io.ReadFull(f, hdr); err != nil {
		return nil, fmt.Errorf("%w %s: header: %w", ErrCorruptIndex, path, err)
	}
	x := &indexFile{path: path, f: f, data: int64(len(pre)) + int64(n), format: pre[len(indexMagic)]}
	if v := x.format; v < oldestFormat || v > indexFormat {
		// Every format so far starts with the same JSON header, so the message can say what to import.
		var h indexHeader
		_ = json.Unmarshal(hdr, &h) // best effort: without it the message is less precise
		return nil, fmt.Errorf("%w %s: index format %d, this ingot reads %d: %s", ErrIndexFormat, path, v, indexFormat, reimport(h.SourceStatus))
	}
	if err := json.Unmarshal(hdr, &x.header); err != nil {
		return nil, fmt.Errorf("%w %s: header: %w", ErrCorruptIndex, path, err)
	}
	// Every section must lie in the file, so no read is sized by a damaged header alone.
	size := fi.Size() - x.data
	all := x.header.Ecosystems
	if x.header.Ratings != nil {
		all = append(slices.Clone(all), *x.header.Ratings)
	}
	for _, s := range all {
		if s.Offset < 0 || s.Length < 0 || s.Offset > size || s.Length > size-s.Offset ||
			s.DirLength < 4 || s.BlobLength < 0 || s.DirLength > s.Length || s.BlobLength > s.Length-s.DirLength {
			return nil, fmt.Errorf("%w %s: section %s out of bounds", ErrCorruptIndex, path, s.Name)
		}
	}
	return x, nil
}

// reimport says how to import a source again, from what its header records.
func reimport(s SourceStatus) string {
	switch {
	case s.Name == "":
		return "import the source again (ingot db import)"
	case strings.Contains(s.Origin, "://"):
		return fmt.Sprintf("update source %s again (ingot db update)", s.Name)
	case s.Origin != "":
		return fmt.Sprintf("import it again (ingot db import --name %s %s)", s.Name, s.Origin)
	}
	return fmt.Sprintf("import source %s again (ingot db import --name %s)", s.Name, s.Name)
}

// Close closes the file; it was only read, so there is no error to act on.
func (x *indexFile) Close() { _ = x.f.Close() }

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
	return x.open(x.header.Ecosystems[i])
}

// ratings returns the reader of the ratings table, or nil when the source rates no record.
func (x *indexFile) ratings() (*sectionReader, error) {
	if x.header.Ratings == nil {
		return nil, nil
	}
	return x.open(*x.header.Ratings)
}

// open reads a section's directory.
func (x *indexFile) open(s section) (*sectionReader, error) {
	dir := make([]byte, s.DirLength)
	if _, err := x.f.ReadAt(dir, x.data+s.Offset); err != nil {
		return nil, fmt.Errorf("%w %s: section %s: %w", ErrCorruptIndex, x.path, s.Name, err)
	}
	if n := binary.BigEndian.Uint32(dir); int64(n) > (s.DirLength-4)/4 {
		return nil, fmt.Errorf("%w %s: section %s: directory of %d entries", ErrCorruptIndex, x.path, s.Name, n)
	}
	return &sectionReader{x: x, s: s, dir: dir}, nil
}

// entry reads directory entry i: the name and where its blob is.
func (r *sectionReader) entry(i int) (name []byte, off, length uint64, err error) {
	p := binary.BigEndian.Uint32(r.dir[4+4*i:])
	if int64(p) >= int64(len(r.dir)) {
		return nil, 0, 0, ErrCorruptIndex
	}
	b := r.dir[p:]
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) { //nolint:gosec // G115: k > 0 and at most len(b)
		return nil, 0, 0, ErrCorruptIndex
	}
	end := k + int(n) //nolint:gosec // G115: n is at most len(b)-k
	name, b = b[k:end], b[end:]
	if off, k = binary.Uvarint(b); k <= 0 {
		return nil, 0, 0, ErrCorruptIndex
	}
	if length, k = binary.Uvarint(b[k:]); k <= 0 {
		return nil, 0, 0, ErrCorruptIndex
	}
	return name, off, length, nil
}

// count is the number of packages in the directory.
func (r *sectionReader) count() int { return int(binary.BigEndian.Uint32(r.dir)) }

// lookup returns the advisories stored for package name, nil when there are none.
func (r *sectionReader) lookup(name string) ([]advisory, error) {
	blob, err := r.blob(name)
	if blob == nil || err != nil {
		return nil, err
	}
	d := decoder{s: string(blob)}
	as := d.advisories()
	if d.err != nil || d.s != "" {
		return nil, fmt.Errorf("%w %s: section %s: package %s", ErrCorruptIndex, r.x.path, r.s.Name, name)
	}
	return as, nil
}

// rated returns the rated records stored under a vulnerability ID in the ratings table.
func (r *sectionReader) rated(id string) ([]rated, error) {
	blob, err := r.blob(id)
	if blob == nil || err != nil {
		return nil, err
	}
	d := decoder{s: string(blob)}
	out := make([]rated, d.count(3))
	for i := range out {
		out[i] = rated{ID: d.str(), Severity: evidence.Severity(min(d.uvarint(), uint64(evidence.SeverityCritical))), Basis: d.str()}
	}
	if d.err != nil || d.s != "" {
		return nil, fmt.Errorf("%w %s: section %s: %s", ErrCorruptIndex, r.x.path, r.s.Name, id)
	}
	return out, nil
}

// blob returns the blob stored under name, nil when there is none.
func (r *sectionReader) blob(name string) ([]byte, error) {
	n := r.count()
	var ferr error
	i := sort.Search(n, func(i int) bool {
		e, _, _, err := r.entry(i)
		if err != nil {
			ferr = err
			return true
		}
		return string(e) >= name
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
	if string(e) != name {
		return nil, nil
	}
	if off > math.MaxInt64 || length > math.MaxInt64 || int64(off) > r.s.BlobLength || int64(length) > r.s.BlobLength-int64(off) { //nolint:gosec // G115: checked first
		return nil, fmt.Errorf("%w %s: section %s: entry %s out of bounds", ErrCorruptIndex, r.x.path, r.s.Name, name)
	}
	blob := make([]byte, length)
	if _, err := r.x.f.ReadAt(blob, r.x.data+r.s.Offset+r.s.DirLength+int64(off)); err != nil { //nolint:gosec // G115: checked above
		return nil, fmt.Errorf("%w %s: section %s: entry %s: %w", ErrCorruptIndex, r.x.path, r.s.Name, name, err)
	}
	return blob, nil
}
