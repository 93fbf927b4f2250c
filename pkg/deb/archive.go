package deb

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ingot-build/ingot/internal/extproc"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// Sentinel errors of archive reading; every error from Open, Archive and DataReader about the archive's
// content wraps one of them.
var (
	ErrMalformed  = errors.New("deb: malformed archive")
	ErrUnsafePath = errors.New("deb: unsafe path in archive")
	ErrTooLarge   = errors.New("deb: archive exceeds limits")
)

// Limits bound the work and memory a hostile archive can cost. Zero fields take the defaults.
type Limits struct {
	MaxControlSize int64 // uncompressed control.tar; 0 => 64 MiB
	MaxDataSize    int64 // total uncompressed bytes read from data.tar; 0 => 8 GiB
	MaxEntries     int   // entries in data.tar; 0 => 1,000,000
}

func (l Limits) withDefaults() Limits {
	if l.MaxControlSize <= 0 {
		l.MaxControlSize = 64 << 20
	}
	if l.MaxDataSize <= 0 {
		l.MaxDataSize = 8 << 30
	}
	if l.MaxEntries <= 0 {
		l.MaxEntries = 1_000_000
	}
	return l
}

const (
	arMagic        = "!<arch>\n"
	arHeaderSize   = 60
	maxBinarySize  = 4096    // debian-binary holds one short line
	zstdMaxWindow  = 1 << 27 // zstd --long=27, the largest window dpkg-deb writes
	zstdMaxMemory  = 1 << 28
	inputBufferLen = 256 << 10
)

// member locates one ar member's body inside the archive.
type member struct {
	name      string // "control.tar.xz"
	off, size int64
	comp      string // "", "gz", "xz", "zst", "bz2"
}

// Archive is an opened .deb file. Its methods may be called concurrently; each Data call streams the
// data member afresh.
type Archive struct {
	r       io.ReaderAt
	lim     Limits
	control member
	data    member

	loadControl sync.Once
	files       map[string][]byte // control.tar regular files by name ("control", "md5sums")
	controlErr  error
}

// Open parses the ar container of a .deb of the given size: "debian-binary" first holding "2.<n>\n",
// then control.tar{,.gz,.xz,.zst} and data.tar{,.gz,.xz,.zst,.bz2}. Members whose name starts with '_'
// are skipped and members after data.tar ignored, as dpkg does. The tarballs are read later, by
// Control, ControlFile and Data.
func Open(r io.ReaderAt, size int64, lim Limits) (*Archive, error) {
	a := &Archive{r: r, lim: lim.withDefaults()}
	magic := make([]byte, len(arMagic))
	if err := readAt(r, magic, 0); err != nil || string(magic) != arMagic {
		return nil, fmt.Errorf("%w: not an ar archive", ErrMalformed)
	}
	off := int64(len(arMagic))
	var hdr [arHeaderSize]byte
	var haveBinary, haveControl, haveData bool
	for off < size && !haveData {
		if size-off < arHeaderSize {
			return nil, fmt.Errorf("%w: truncated member header at offset %d", ErrMalformed, off)
		}
		if err := readAt(r, hdr[:], off); err != nil {
			return nil, fmt.Errorf("%w: reading member header at offset %d: %w", ErrMalformed, off, err)
		}
		m, err := parseArHeader(hdr[:])
		if err != nil {
			return nil, fmt.Errorf("%w: member header at offset %d: %w", ErrMalformed, off, err)
		}
		m.off = off + arHeaderSize
		if m.size > size-m.off {
			return nil, fmt.Errorf("%w: member %q: %d bytes declared, %d left in file", ErrMalformed, m.name, m.size, size-m.off)
		}
		off = m.off + m.size + m.size%2 // bodies are padded to an even offset
		switch {
		case !haveBinary:
			if m.name != "debian-binary" {
				return nil, fmt.Errorf("%w: first member is %q, want debian-binary", ErrMalformed, m.name)
			}
			if err := a.checkBinary(m); err != nil {
				return nil, err
			}
			haveBinary = true
		case strings.HasPrefix(m.name, "_"):
			// Reserved for local additions; dpkg skips them.
		case !haveControl:
			comp, ok := compression(m.name, "control.tar", false)
			if !ok {
				return nil, fmt.Errorf("%w: member %q where control.tar was expected", ErrMalformed, m.name)
			}
			m.comp = comp
			a.control, haveControl = m, true
		default:
			comp, ok := compression(m.name, "data.tar", true)
			if !ok {
				return nil, fmt.Errorf("%w: member %q where data.tar was expected", ErrMalformed, m.name)
			}
			m.comp = comp
			a.data, haveData = m, true
		}
	}
	switch {
	case !haveBinary:
		return nil, fmt.Errorf("%w: no debian-binary member", ErrMalformed)
	case !haveControl:
		return nil, fmt.Errorf("%w: no control.tar member", ErrMalformed)
	case !haveData:
		return nil, fmt.Errorf("%w: no data.tar member", ErrMalformed)
	}
	return a, nil
}

// readAt fills b from r at off. io.ReaderAt may report io.EOF together with a full read that ends at
// the end of the input; that is success here.
func readAt(r io.ReaderAt, b []byte, off int64) error {
	n, err := r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// parseArHeader decodes the name and size of a 60-byte ar member header.
func parseArHeader(h []byte) (member, error) {
	if string(h[58:60]) != "`\n" {
		return member{}, errors.New("bad header terminator")
	}
	name := strings.TrimRight(string(h[0:16]), " ")
	name = strings.TrimSuffix(name, "/") // GNU ar terminates names with '/'
	if name == "" {
		return member{}, errors.New("empty member name")
	}
	sizeField := strings.TrimRight(string(h[48:58]), " ")
	if sizeField == "" {
		return member{}, fmt.Errorf("member %q: empty size field", name)
	}
	for i := 0; i < len(sizeField); i++ {
		if !isDigit(sizeField[i]) {
			return member{}, fmt.Errorf("member %q: size field %q is not a decimal number", name, sizeField)
		}
	}
	n, err := strconv.ParseInt(sizeField, 10, 64)
	if err != nil {
		return member{}, fmt.Errorf("member %q: size field %q: %w", name, sizeField, err)
	}
	return member{name: name, size: n}, nil
}

// compression returns the compression suffix of name if it is base or base plus a supported suffix.
func compression(name, base string, bz2 bool) (string, bool) {
	rest, ok := strings.CutPrefix(name, base)
	if !ok {
		return "", false
	}
	switch rest {
	case "":
		return "", true
	case ".gz", ".xz", ".zst":
		return rest[1:], true
	case ".bz2":
		return "bz2", bz2
	}
	return "", false
}

func (a *Archive) checkBinary(m member) error {
	if m.size > maxBinarySize {
		return fmt.Errorf("%w: debian-binary is %d bytes", ErrMalformed, m.size)
	}
	b := make([]byte, m.size)
	if err := readAt(a.r, b, m.off); err != nil {
		return fmt.Errorf("%w: reading debian-binary: %w", ErrMalformed, err)
	}
	// "2.<minor>\n"; later lines and minor numbers are reserved for compatible extensions.
	line, _, ok := bytes.Cut(b, []byte("\n"))
	minor, isTwo := bytes.CutPrefix(line, []byte("2."))
	if !ok || !isTwo || len(minor) == 0 || bytes.ContainsFunc(minor, func(r rune) bool { return r < '0' || r > '9' }) {
		return fmt.Errorf("%w: unsupported debian-binary %.20q, want \"2.<n>\\n\"", ErrMalformed, b)
	}
	return nil
}

// limitReader fails with ErrTooLarge once more than n bytes have been read through it.
type limitReader struct {
	r    io.Reader
	n    int64
	what string
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n < 0 {
		return 0, fmt.Errorf("%w: %s", ErrTooLarge, l.what)
	}
	n, err := l.r.Read(p)
	if int64(n) > l.n {
		// Deliver nothing past the limit, so callers using io.ReadFull see the error too.
		n, l.n = int(l.n), -1
		return n, fmt.Errorf("%w: %s", ErrTooLarge, l.what)
	}
	l.n -= int64(n)
	return n, err
}

// decompressor streams the uncompressed body of m; close releases decoder resources.
func (a *Archive) decompressor(m member) (r io.Reader, closeFn func() error, err error) {
	if m.comp == "xz" && m.size >= xzExternalMin {
		if p, ok := extproc.XZ.Start(io.NewSectionReader(a.r, m.off, m.size)); ok {
			return p, p.Close, nil
		}
	}
	in := bufio.NewReaderSize(io.NewSectionReader(a.r, m.off, m.size), inputBufferLen)
	noop := func() error { return nil }
	switch m.comp {
	case "":
		return in, noop, nil
	case "gz":
		zr, err := gzip.NewReader(in)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %s: %w", ErrMalformed, m.name, err)
		}
		return zr, zr.Close, nil
	case "xz":
		zr, err := xz.NewReader(in)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %s: %w", ErrMalformed, m.name, err)
		}
		return zr, noop, nil
	case "zst":
		zr, err := zstd.NewReader(in,
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderMaxWindow(zstdMaxWindow),
			zstd.WithDecoderMaxMemory(zstdMaxMemory))
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %s: %w", ErrMalformed, m.name, err)
		}
		return zr, func() error { zr.Close(); return nil }, nil
	case "bz2":
		return bzip2.NewReader(in), noop, nil
	}
	return nil, nil, fmt.Errorf("%w: %s: unknown compression", ErrMalformed, m.name)
}

// readErr classifies an error met while reading member m: limit and path errors keep their kind,
// everything else (truncation, corrupt compression, bad tar headers) is ErrMalformed.
func readErr(m member, what string, err error) error {
	if errors.Is(err, ErrTooLarge) || errors.Is(err, ErrUnsafePath) || errors.Is(err, ErrMalformed) {
		return fmt.Errorf("%s %s: %w", what, m.name, err)
	}
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("%w: %s %s: %w", ErrMalformed, what, m.name, err)
}

func (a *Archive) readControl() (map[string][]byte, error) {
	r, closeFn, err := a.decompressor(a.control)
	if err != nil {
		return nil, err
	}
	defer closeFn() //nolint:errcheck // read-only decoder
	tr := tar.NewReader(&limitReader{r: r, n: a.lim.MaxControlSize, what: "control.tar larger than MaxControlSize"})
	files := map[string][]byte{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil && !errors.Is(err, tar.ErrInsecurePath) {
			return nil, readErr(a.control, "reading", err)
		}
		name, err := cleanPath(hdr.Name)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", a.control.name, err)
		}
		if hdr.Typeflag != tar.TypeReg || name == "." {
			continue // the "./" directory; dpkg ignores other types too
		}
		if _, dup := files[name]; dup {
			return nil, fmt.Errorf("%w: %s: duplicate entry %q", ErrMalformed, a.control.name, name)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			return nil, readErr(a.control, "reading "+name+" in", err)
		}
		files[name] = body
	}
	if _, ok := files["control"]; !ok {
		return nil, fmt.Errorf("%w: %s has no control file", ErrMalformed, a.control.name)
	}
	return files, nil
}

func (a *Archive) controlFiles() (map[string][]byte, error) {
	a.loadControl.Do(func() { a.files, a.controlErr = a.readControl() })
	return a.files, a.controlErr
}

// Control parses the package's control file.
func (a *Archive) Control() (Paragraph, error) {
	files, err := a.controlFiles()
	if err != nil {
		return Paragraph{}, err
	}
	p, err := ParseParagraph(files["control"])
	if err != nil {
		return Paragraph{}, fmt.Errorf("%w: control file: %w", ErrMalformed, err)
	}
	return p, nil
}

// ControlFile returns a file of the control tarball, such as "md5sums", "conffiles" or "postinst",
// and whether the package has it.
func (a *Archive) ControlFile(name string) ([]byte, bool, error) {
	files, err := a.controlFiles()
	if err != nil {
		return nil, false, err
	}
	b, ok := files[strings.TrimPrefix(name, "./")]
	return bytes.Clone(b), ok, nil
}

// Entry is one file of the data tarball, with its path made safe to place under an image root.
type Entry struct {
	Path     string // cleaned, relative, no leading "./" or "/"; directories without trailing slash
	Type     byte   // tar.TypeReg, TypeDir, TypeSymlink, TypeLink, TypeChar, TypeBlock or TypeFifo
	Mode     int64  // permission bits incl. setuid/setgid/sticky
	UID, GID int
	Size     int64     // bytes Read returns; 0 except for regular files
	Linkname string    // symlink target verbatim; for hardlinks the cleaned relative path of the target
	ModTime  time.Time // as recorded in the archive
	Devmajor int64     // for character and block devices
	Devminor int64
}

// DataReader streams the entries of a package's data tarball, like tar.Reader but with paths cleaned
// and checked and sizes bounded by the archive's Limits.
type DataReader struct {
	tr      *tar.Reader
	closeFn func() error
	m       member
	lim     Limits
	entries int
	total   int64 // declared sizes of the entries so far
	err     error // sticky
}

// Data opens a new stream over the package's files.
func (a *Archive) Data() (*DataReader, error) {
	r, closeFn, err := a.decompressor(a.data)
	if err != nil {
		return nil, err
	}
	lr := &limitReader{r: r, n: a.lim.MaxDataSize, what: "data.tar larger than MaxDataSize"}
	return &DataReader{tr: tar.NewReader(lr), closeFn: closeFn, m: a.data, lim: a.lim}, nil
}

// cleanPath makes a tar name relative and clean, rejecting names that climb out of the root. The root
// itself is ".".
func cleanPath(name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("%w: empty name", ErrUnsafePath)
	}
	p := path.Clean("/" + name)[1:] // Clean on a rooted path cannot keep leading ".."
	if p == "" {
		p = "."
	}
	// Rooting hides "..", so check the unrooted form for escapes.
	if c := path.Clean(strings.TrimLeft(name, "/")); c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("%w: %q escapes the root", ErrUnsafePath, name)
	}
	return p, nil
}

// Next advances to the next entry, skipping the root directory. It returns io.EOF at the end.
func (d *DataReader) Next() (*Entry, error) {
	if d.err != nil {
		return nil, d.err
	}
	e, err := d.next()
	if err != nil {
		d.err = err
	}
	return e, err
}

func (d *DataReader) next() (*Entry, error) {
	for {
		hdr, err := d.tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		if err != nil && !errors.Is(err, tar.ErrInsecurePath) {
			return nil, readErr(d.m, "reading", err)
		}
		d.entries++
		if d.entries > d.lim.MaxEntries {
			return nil, fmt.Errorf("%w: %s has more than %d entries", ErrTooLarge, d.m.name, d.lim.MaxEntries)
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader {
			continue // pax global metadata, not a file
		}
		p, err := cleanPath(hdr.Name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", d.m.name, err)
		}
		e := &Entry{
			Path:    p,
			Type:    hdr.Typeflag,
			Mode:    hdr.Mode & 0o7777,
			UID:     hdr.Uid,
			GID:     hdr.Gid,
			ModTime: hdr.ModTime,
		}
		if hdr.Uid < 0 || hdr.Gid < 0 {
			return nil, fmt.Errorf("%w: %s: %q has a negative owner", ErrMalformed, d.m.name, hdr.Name)
		}
		switch hdr.Typeflag {
		case tar.TypeReg:
			e.Size = hdr.Size
			d.total += hdr.Size
			if d.total > d.lim.MaxDataSize {
				return nil, fmt.Errorf("%w: %s: files larger than MaxDataSize at %q", ErrTooLarge, d.m.name, p)
			}
		case tar.TypeDir:
		case tar.TypeSymlink:
			if hdr.Linkname == "" {
				return nil, fmt.Errorf("%w: %s: symlink %q has no target", ErrMalformed, d.m.name, p)
			}
			e.Linkname = hdr.Linkname
		case tar.TypeLink:
			target, err := cleanPath(hdr.Linkname)
			if err != nil {
				return nil, fmt.Errorf("%s: hardlink %q: %w", d.m.name, p, err)
			}
			if target == "." {
				return nil, fmt.Errorf("%w: %s: hardlink %q to the root", ErrUnsafePath, d.m.name, p)
			}
			e.Linkname = target
		case tar.TypeChar, tar.TypeBlock:
			e.Devmajor, e.Devminor = hdr.Devmajor, hdr.Devminor
		case tar.TypeFifo:
		default:
			return nil, fmt.Errorf("%w: %s: %q has unsupported tar type %q", ErrMalformed, d.m.name, p, hdr.Typeflag)
		}
		if p == "." {
			if hdr.Typeflag != tar.TypeDir {
				return nil, fmt.Errorf("%w: %s: non-directory %q at the root", ErrUnsafePath, d.m.name, hdr.Name)
			}
			continue
		}
		return e, nil
	}
}

// Read reads the body of the current regular file.
func (d *DataReader) Read(p []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	n, err := d.tr.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		d.err = readErr(d.m, "reading", err)
		return n, d.err
	}
	return n, err
}

// Close releases the decompressor. It does not close the underlying io.ReaderAt.
func (d *DataReader) Close() error {
	if d.closeFn == nil {
		return nil
	}
	err := d.closeFn()
	d.closeFn = nil
	d.err = fmt.Errorf("reading %s: %w", d.m.name, fs.ErrClosed)
	return err
}
