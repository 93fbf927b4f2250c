package vuln

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sync/atomic"
)

// budget is how many decompressed bytes the documents of one source may hold together. It is shared by
// the readers running in parallel and counts what they actually read: a zip's declared sizes are only
// used to refuse an obvious bomb before reading anything.
type budget struct {
	src   string
	limit int64
	used  atomic.Int64
}

// declared refuses a source whose documents say they hold more than the budget.
func (b *budget) declared(docs []document) error {
	var total uint64
	for _, d := range docs {
		if total += d.size; total < d.size {
			total = math.MaxUint64
		}
	}
	if total > uint64(b.limit) { //nolint:gosec // G115: the limit is positive (checked when the budget is made)
		return fmt.Errorf("%w: %s declares %s of OSV JSON, more than the limit of %s", ErrTooLarge, b.src, limitText(int64(min(total, math.MaxInt64))), limitText(b.limit))
	}
	return nil
}

// reader counts what r yields against the budget and fails once the source's documents together have
// inflated past it.
func (b *budget) reader(r io.Reader, name string) io.Reader {
	return &budgetReader{r: r, b: b, name: name}
}

type budgetReader struct {
	r    io.Reader
	b    *budget
	name string
}

func (r *budgetReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if r.b.used.Add(int64(n)) > r.b.limit {
		return n, fmt.Errorf("%w: %s inflates to more than the limit of %s of OSV JSON (reading %s)", ErrTooLarge, r.b.src, limitText(r.b.limit), r.name)
	}
	return n, err
}

// limitText writes a byte count as people set it: "4 GiB (4294967296 bytes)".
func limitText(n int64) string {
	for _, u := range []struct {
		unit string
		size int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return fmt.Sprintf("%d %s (%d bytes)", n/u.size, u.unit, n)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}

// openZip opens a zip of OSV records after checking that its central directory, which archive/zip
// reads into memory whole, holds at most maxEntries entries (what the source's other zips left of
// MaxZipEntries).
func openZip(path string, maxEntries uint64) (*zip.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSource, err)
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close() // read-only
		return nil, fmt.Errorf("%w: %w", ErrSource, err)
	}
	n, ok := zipEntryBound(f, fi.Size())
	_ = f.Close() // read-only
	switch {
	case ok && n > MaxZipEntries:
		return nil, fmt.Errorf("%w: the zip %s holds up to %d entries, more than the limit of %d", ErrTooLarge, path, n, MaxZipEntries)
	case ok && n > maxEntries:
		return nil, fmt.Errorf("%w: the zip %s holds up to %d entries, more than the limit of %d with the source's other zips", ErrTooLarge, path, n, MaxZipEntries)
	}
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not a valid zip archive: %w", ErrSource, path, err)
	}
	return zr, nil
}

// Zip records (APPNOTE.TXT 4.3.12 to 4.3.16).
const (
	zipDirHeaderLen  = 46 // a central directory header without its name, extra and comment
	zipEndLen        = 22
	zipEnd64LocLen   = 20
	zipEnd64Len      = 56
	zipMaxCommentLen = 0xffff
)

// zipEntryBound returns an upper bound of the entries archive/zip would read from the zip: the
// larger of the count its end record declares and what fits between the start of its central
// directory and the end of the file (archive/zip reads directory headers until one does not parse,
// and only checks the declared count modulo 65536). ok is false when the end record cannot be found,
// which archive/zip reports as an invalid zip.
func zipEntryBound(r io.ReaderAt, size int64) (uint64, bool) {
	tail := min(size, zipEndLen+zipMaxCommentLen)
	buf := make([]byte, tail)
	if _, err := r.ReadAt(buf, size-tail); err != nil && !errors.Is(err, io.EOF) {
		return 0, false
	}
	i := bytes.LastIndex(buf, []byte("PK\x05\x06"))
	if i < 0 || len(buf)-i < zipEndLen || zipEndLen+int(binary.LittleEndian.Uint16(buf[i+20:])) > len(buf)-i {
		return 0, false // as archive/zip, which then fails
	}
	end := buf[i:]
	endAt := uint64(size - tail + int64(i)) //nolint:gosec // G115: an offset inside the file, so not negative
	count := uint64(binary.LittleEndian.Uint16(end[10:]))
	dirSize := uint64(binary.LittleEndian.Uint32(end[12:]))
	dirOffset := uint64(binary.LittleEndian.Uint32(end[16:]))
	if count == 0xffff || dirSize == 0xffffffff || dirOffset == 0xffffffff {
		if at, c, s, o, ok := zip64End(r, int64(endAt)); ok { //nolint:gosec // G115: endAt is an offset inside the file, below its int64 size
			endAt, count, dirSize, dirOffset = at, c, s, o
		}
	}
	// archive/zip starts reading the directory at dirOffset, or dirSize before the end record when
	// the zip has a prefix; the earlier of the two gives the larger bound.
	fileSize := uint64(size) //nolint:gosec // G115: a file's size is not negative
	start := min(dirOffset, endAt-min(dirSize, endAt), fileSize)
	return max(count, (fileSize-start)/zipDirHeaderLen), true
}

// zip64End reads the zip64 end record that the locator before the end record at endOffset points to,
// and returns where it is with what it says.
func zip64End(r io.ReaderAt, endOffset int64) (at, count, dirSize, dirOffset uint64, ok bool) {
	if endOffset < zipEnd64LocLen {
		return 0, 0, 0, 0, false
	}
	loc := make([]byte, zipEnd64LocLen)
	if _, err := r.ReadAt(loc, endOffset-zipEnd64LocLen); err != nil || !bytes.HasPrefix(loc, []byte("PK\x06\x07")) {
		return 0, 0, 0, 0, false
	}
	at = binary.LittleEndian.Uint64(loc[8:])
	if at > uint64(endOffset) {
		return 0, 0, 0, 0, false
	}
	rec := make([]byte, zipEnd64Len)
	recAt := int64(at) //nolint:gosec // G115: at <= endOffset, an int64, checked above
	if _, err := r.ReadAt(rec, recAt); err != nil || !bytes.HasPrefix(rec, []byte("PK\x06\x06")) {
		return 0, 0, 0, 0, false
	}
	return at, binary.LittleEndian.Uint64(rec[32:]), binary.LittleEndian.Uint64(rec[40:]), binary.LittleEndian.Uint64(rec[48:]), true
}
