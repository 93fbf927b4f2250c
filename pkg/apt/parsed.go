package apt

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"github.com/ingot-build/ingot/internal/safefile"
	"github.com/ingot-build/ingot/pkg/deb"
)

// ParsedFormat is the version of the parsed-index encoding. Bump it whenever Package gains a field or
// the encoding changes: entries of another version live under another directory and are never read,
// so an old entry cannot be misread as the new form.
const ParsedFormat = 1

// ErrParsedEntry means a parsed-index entry is missing, damaged or of another format; the index is
// parsed again.
var ErrParsedEntry = errors.New("apt: no usable parsed index")

// parsedMagic starts every entry, before the format version.
const parsedMagic = "ingot parsed Packages index\n"

// parsedHeader is the magic, the format version (uint32), the sha256 of the index the entry was parsed
// from, the sha256 of the body and the body's length (uint64).
const parsedHeader = len(parsedMagic) + 4 + sha256.Size + sha256.Size + 8

// ParsedCache keeps the parsed form of Packages indexes, so that a second lock of another spec against
// the same repository state does not decompress and parse the index again (Debian's main index is
// about 50 MB of text, 63,000 stanzas). Entries are named by the sha256 of the index they were parsed
// from, under a directory per ParsedFormat: Dir/v<ParsedFormat>/<index sha256>. Each carries the
// sha256 of its own body, checked on every read; a damaged entry is removed and the index parsed
// again. The check is against damage (a torn write, a flipped bit), not against someone who can write
// the data directory, who could as well change the build cache or the image layouts.
type ParsedCache struct{ Dir string }

// Path returns where the entry for the index with the given sha256 lives (or would live).
func (c *ParsedCache) Path(indexSHA256 string) string {
	return filepath.Join(c.Dir, "v"+strconv.Itoa(ParsedFormat), indexSHA256)
}

// Load returns the packages parsed from the index with the given sha256, Repository unset. Any failure
// wraps ErrParsedEntry; a damaged entry is removed first.
func (c *ParsedCache) Load(indexSHA256 string) ([]*Package, error) {
	if !validHex(indexSHA256) {
		return nil, fmt.Errorf("%w: key %.80q is not a lowercase sha256", ErrParsedEntry, indexSHA256)
	}
	p := c.Path(indexSHA256)
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrParsedEntry, err)
	}
	pkgs, err := decodeParsed(data, indexSHA256)
	if err != nil {
		if rerr := os.Remove(p); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s: %w, and removing it failed: %w", ErrParsedEntry, p, err, rerr)
		}
		return nil, fmt.Errorf("%w: %s was removed: %w", ErrParsedEntry, p, err)
	}
	return pkgs, nil
}

// Save records the packages parsed from the index with the given sha256.
func (c *ParsedCache) Save(indexSHA256 string, pkgs []*Package) error {
	if !validHex(indexSHA256) {
		return fmt.Errorf("%w: refusing to cache a parsed index under %.80q", ErrHashMismatch, indexSHA256)
	}
	p := c.Path(indexSHA256)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("creating the parsed-index cache: %w", err)
	}
	return safefile.Write(p, encodeParsed(indexSHA256, pkgs), 0o644)
}

// Check verifies the entry at path as Load would, without keeping what it decodes: the store's fsck
// uses it.
func (c *ParsedCache) Check(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	_, err = decodeParsed(data, filepath.Base(path))
	return err
}

func encodeParsed(indexSHA256 string, pkgs []*Package) []byte {
	// Sized up front (the strings, 3 bytes for each string's length and 10 for each number), so that
	// the buffer, some 20 MB for Debian's main index, is not copied to grow.
	size := parsedHeader + binary.MaxVarintLen64
	for _, p := range pkgs {
		size += len(p.Name) + len(p.Version.Upstream) + len(p.Version.Revision) + len(p.Architecture) + len(p.Source) +
			len(p.SourceVersion.Upstream) + len(p.SourceVersion.Revision) + len(p.Priority) + len(p.Section) +
			len(p.MultiArch) + len(p.Filename) + len(p.SHA256) + 17*3 + 5*binary.MaxVarintLen64
		if p.rel != nil {
			for _, r := range p.rel.raw {
				size += len(r)
			}
		}
	}
	e := parsedEncoder{buf: make([]byte, parsedHeader, size)}
	e.uint(uint64(len(pkgs)))
	for _, p := range pkgs {
		e.str(p.Name)
		e.version(p.Version)
		e.str(p.Architecture)
		e.str(p.Source)
		e.version(p.SourceVersion)
		e.str(p.Priority)
		e.str(p.Section)
		e.str(p.MultiArch)
		if p.Essential {
			e.uint(1)
		} else {
			e.uint(0)
		}
		e.str(p.Filename)
		e.uint(uint64(p.Size))          //nolint:gosec // parseSize keeps sizes non-negative
		e.uint(uint64(p.InstalledSize)) //nolint:gosec // likewise
		e.str(p.SHA256)
		for f := range numRelationFields {
			if p.rel == nil {
				e.str("")
			} else {
				e.str(p.rel.raw[f])
			}
		}
	}
	b := e.buf
	n := copy(b, parsedMagic)
	binary.BigEndian.PutUint32(b[n:], ParsedFormat)
	n += 4
	key, _ := decodeHex(indexSHA256)
	n += copy(b[n:], key)
	body := b[parsedHeader:]
	sum := sha256.Sum256(body)
	n += copy(b[n:], sum[:])
	binary.BigEndian.PutUint64(b[n:], uint64(len(body)))
	return b
}

func decodeParsed(data []byte, indexSHA256 string) ([]*Package, error) {
	if len(data) < parsedHeader || string(data[:len(parsedMagic)]) != parsedMagic {
		return nil, errors.New("not a parsed index")
	}
	h := data[len(parsedMagic):parsedHeader]
	if v := binary.BigEndian.Uint32(h); v != ParsedFormat {
		return nil, fmt.Errorf("format %d, this ingot reads %d", v, ParsedFormat)
	}
	key, ok := decodeHex(indexSHA256)
	if !ok || !bytes.Equal(h[4:4+sha256.Size], key) {
		return nil, errors.New("parsed from another index than its name says")
	}
	body := data[parsedHeader:]
	if binary.BigEndian.Uint64(h[4+2*sha256.Size:]) != uint64(len(body)) {
		return nil, errors.New("truncated")
	}
	if sum := sha256.Sum256(body); !bytes.Equal(h[4+sha256.Size:4+2*sha256.Size], sum[:]) {
		return nil, errors.New("its body does not match its sha256")
	}
	// One string for the whole body: every field is a substring of it, so decoding allocates the
	// Packages and little else.
	d := parsedDecoder{s: string(body)}
	n := d.uint()
	if n > uint64(len(body)) {
		return nil, errors.New("bad package count")
	}
	pkgs := make([]*Package, 0, n)
	all := make([]Package, n)
	for i := range all {
		p := &all[i]
		p.Name = d.str()
		p.Version = d.version()
		p.Architecture = d.str()
		p.Source = d.str()
		p.SourceVersion = d.version()
		p.Priority = d.str()
		p.Section = d.str()
		p.MultiArch = d.str()
		p.Essential = d.uint() == 1
		p.Filename = d.str()
		p.Size = d.int()
		p.InstalledSize = d.int()
		p.SHA256 = d.str()
		var rel relations
		hasAny := false
		for f := range numRelationFields {
			rel.raw[f] = d.str()
			hasAny = hasAny || rel.raw[f] != ""
		}
		if hasAny {
			p.rel = &rel
		}
		if d.err != nil {
			return nil, fmt.Errorf("package %d: %w", i+1, d.err)
		}
		pkgs = append(pkgs, p)
	}
	if d.off != len(d.s) {
		return nil, errors.New("trailing bytes")
	}
	return pkgs, nil
}

type parsedEncoder struct{ buf []byte }

func (e *parsedEncoder) uint(v uint64) { e.buf = binary.AppendUvarint(e.buf, v) }

func (e *parsedEncoder) str(s string) {
	e.uint(uint64(len(s)))
	e.buf = append(e.buf, s...)
}

func (e *parsedEncoder) version(v deb.Version) {
	e.uint(v.Epoch)
	e.str(v.Upstream)
	e.str(v.Revision)
}

// parsedDecoder reads what parsedEncoder wrote; its first error sticks and every later read returns
// zero values, so the caller checks once per package.
type parsedDecoder struct {
	s   string
	off int
	err error
}

func (d *parsedDecoder) uint() uint64 {
	if d.err != nil {
		return 0
	}
	var v uint64
	for shift := uint(0); ; shift += 7 {
		if d.off >= len(d.s) || shift > 63 {
			d.err = errors.New("truncated or overlong number")
			return 0
		}
		b := d.s[d.off]
		d.off++
		v |= uint64(b&0x7f) << shift
		if b < 0x80 {
			return v
		}
	}
}

func (d *parsedDecoder) int() int64 {
	v := d.uint()
	if v > math.MaxInt64 {
		d.err = errors.New("number out of range")
		return 0
	}
	return int64(v)
}

func (d *parsedDecoder) str() string {
	n := d.uint()
	if d.err != nil {
		return ""
	}
	rest := d.s[d.off:]
	if n > uint64(len(rest)) {
		d.err = errors.New("truncated string")
		return ""
	}
	s := rest[:n]
	d.off += len(s)
	return s
}

func (d *parsedDecoder) version() deb.Version {
	return deb.Version{Epoch: d.uint(), Upstream: d.str(), Revision: d.str()}
}

// decodeHex decodes a lowercase sha256 as validHex accepts it.
func decodeHex(s string) ([]byte, bool) {
	if !validHex(s) {
		return nil, false
	}
	b, err := hex.DecodeString(s)
	return b, err == nil
}
