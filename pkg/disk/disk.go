package disk

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"os/exec"
	"path"
	"strings"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/filesystem/ext4"

	"github.com/ingot-build/ingot/internal/safefile"
	"github.com/ingot-build/ingot/pkg/fault"
)

// Sentinel errors, wrapped with what they are about.
var (
	// ErrNotDisk reports a file that is neither a qcow2 image nor a raw disk with a partition table or
	// an ext4 file system.
	ErrNotDisk = fault.New(fault.Invalid, "disk: not a disk image")
	// ErrNoRoot reports a disk none of whose partitions holds an ext4 root file system (one with /etc).
	ErrNoRoot = fault.New(fault.Invalid, "disk: no ext4 root file system")
	// ErrCorrupt reports a disk image whose structures cannot be read: a damaged partition table or
	// file system, a truncated image.
	ErrCorrupt = fault.New(fault.Invalid, "disk: damaged disk image")
	// ErrNoQemuImg reports a qcow2 image on a machine without qemu-img, which converts it.
	ErrNoQemuImg = fault.New(fault.Invalid, "disk: qcow2 needs qemu-img (Debian package qemu-utils)")
)

// Format is the kind of a disk image file.
type Format string

// Formats.
const (
	Raw   Format = "raw"
	QCOW2 Format = "qcow2"
)

// Magic numbers, as the formats define them.
var (
	qcowMagic = []byte{'Q', 'F', 'I', 0xfb}
	// mbrSignature ends the first sector of a disk with an MBR (protective or not).
	mbrSignature = []byte{0x55, 0xaa}
	// ext4Magic is s_magic, at byte 56 of the superblock that starts 1024 bytes into the file system.
	ext4Magic = []byte{0x53, 0xef}
)

// Detect reads the start of a file and says whether it is a disk image and of which format: qcow2 by
// its magic, raw by an MBR signature or an ext4 superblock at the start. ok is false for anything
// else (a tarball, a text file).
func Detect(r io.ReaderAt) (Format, bool) {
	head := make([]byte, 2048)
	n, _ := r.ReadAt(head, 0)
	head = head[:n]
	switch {
	case bytes.HasPrefix(head, qcowMagic):
		return QCOW2, true
	case len(head) >= 512 && bytes.Equal(head[510:512], mbrSignature) && !isTar(head):
		return Raw, true
	case len(head) >= 1024+58 && bytes.Equal(head[1024+56:1024+58], ext4Magic):
		return Raw, true
	}
	return "", false
}

// isTar recognises a ustar header, whose checksum field could otherwise happen to end in 0x55aa.
func isTar(head []byte) bool {
	return len(head) >= 262 && bytes.HasPrefix(head[257:], []byte("ustar"))
}

// Image is an opened disk image's root file system.
type Image struct {
	// Format is the image file's format.
	Format Format
	// Partition is the 1-based index of the partition that holds the root file system, 0 for a disk
	// that is a bare file system.
	Partition int
	fs        *ext4.FileSystem
	closers   []func() error
}

// Options tune Open.
type Options struct {
	// TempDir holds the raw copy of a qcow2 image; empty means the system's temporary directory.
	TempDir string
	// QemuImg is the qemu-img binary; empty means qemu-img on PATH.
	QemuImg string
}

// Open reads a disk image's partition table and finds its root file system: the first ext4 file
// system, in partition order, with an etc directory (a disk without a partition table may be a bare
// ext4 file system). A qcow2 image is converted to a temporary raw image first, removed by Close.
func Open(ctx context.Context, name string, opt Options) (img *Image, err error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	format, ok := Detect(f)
	_ = f.Close()
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotDisk, name)
	}
	img = &Image{Format: format}
	defer func() {
		if err != nil {
			_ = img.Close()
			img = nil
		}
	}()
	raw := name
	if format == QCOW2 {
		if raw, err = convert(ctx, name, opt); err != nil {
			return img, err
		}
		img.closers = append(img.closers, func() error { return os.Remove(raw) })
	}
	defer recoverCorrupt(&err, name)
	d, err := diskfs.Open(raw, diskfs.WithOpenMode(diskfs.ReadOnly))
	if err != nil {
		return img, fmt.Errorf("%w: opening %s: %w", ErrCorrupt, name, err)
	}
	img.closers = append(img.closers, d.Close)
	var tried []string
	table, terr := d.GetPartitionTable()
	if terr == nil {
		for _, p := range table.GetPartitions() {
			if p.GetSize() <= 0 {
				continue
			}
			if end := p.GetStart() + p.GetSize(); end > d.Size {
				return img, fmt.Errorf("%w: %s: partition %d ends at byte %d, past the image's end (%d bytes): the image is truncated", ErrCorrupt, name, p.GetIndex(), end, d.Size)
			}
			fs, err := ext4.Read(d.Backend, p.GetSize(), p.GetStart(), d.LogicalBlocksize)
			if err != nil {
				tried = append(tried, fmt.Sprintf("partition %d: %v", p.GetIndex(), err))
				continue
			}
			if isRoot(fs) {
				img.fs, img.Partition = fs, p.GetIndex()
				return img, nil
			}
			tried = append(tried, fmt.Sprintf("partition %d: ext4 without /etc", p.GetIndex()))
		}
		if len(tried) == 0 {
			return img, fmt.Errorf("%w in %s: the %s partition table lists no partition", ErrNoRoot, name, table.Type())
		}
		return img, fmt.Errorf("%w in %s (%s)", ErrNoRoot, name, strings.Join(tried, "; "))
	}
	fs, err := ext4.Read(d.Backend, d.Size, 0, d.LogicalBlocksize)
	if err != nil {
		return img, fmt.Errorf("%w: %s: no readable partition table (%w) and not an ext4 file system (%w)", ErrCorrupt, name, terr, err)
	}
	if !isRoot(fs) {
		return img, fmt.Errorf("%w in %s: the ext4 file system has no /etc", ErrNoRoot, name)
	}
	img.fs = fs
	return img, nil
}

// isRoot reports whether a file system looks like a root file system rather than /boot or /home.
func isRoot(fs *ext4.FileSystem) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	fi, err := fs.Stat("etc")
	return err == nil && fi.IsDir()
}

// convert turns a qcow2 image into a temporary raw image with qemu-img, which also checks the qcow2
// structures: a truncated image fails here, with qemu-img's message.
func convert(ctx context.Context, name string, opt Options) (string, error) {
	bin := opt.QemuImg
	if bin == "" {
		bin = "qemu-img"
	}
	exe, err := exec.LookPath(bin)
	if err != nil {
		return "", fmt.Errorf("%w: reading %s: %w", ErrNoQemuImg, name, err)
	}
	// qemu-img convert reads a truncated image's missing clusters as zeros; check finds them first.
	// Its exit status 2 is corruption, 1 an image it could not check; 3 (leaked clusters) is harmless.
	var checkOut bytes.Buffer
	check := exec.CommandContext(ctx, exe, "check", "-f", "qcow2", name) //nolint:gosec // qemu-img from PATH or the caller's options, fixed arguments
	check.Stdout, check.Stderr = &checkOut, &checkOut
	if err := check.Run(); err != nil {
		var exit *exec.ExitError
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		if !errors.As(err, &exit) || exit.ExitCode() != 3 {
			return "", fmt.Errorf("%w: qemu-img check finds %s damaged: %s", ErrCorrupt, name, firstLine(checkOut.String(), err))
		}
	}
	tmp, err := safefile.CreateTemp(opt.TempDir, "ingot-disk-*.raw")
	if err != nil {
		return "", err
	}
	_ = tmp.Close()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, exe, "convert", "-q", "-f", "qcow2", "-O", "raw", name, tmp.Name()) //nolint:gosec // as for check
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		_ = os.Remove(tmp.Name())
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", fmt.Errorf("%w: qemu-img cannot read %s: %s", ErrCorrupt, name, firstLine(stderr.String(), err))
	}
	return tmp.Name(), nil
}

func firstLine(s string, err error) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return err.Error()
	}
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// recoverCorrupt turns a panic of the file system library on a hostile image into ErrCorrupt: the
// image comes from outside, and one bad inode must not take the process down.
func recoverCorrupt(err *error, name string) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%w: %s: %v", ErrCorrupt, name, r)
	}
}

// Close releases the image and removes the raw copy of a qcow2 image.
func (img *Image) Close() error {
	var errs []error
	for i := len(img.closers) - 1; i >= 0; i-- {
		errs = append(errs, img.closers[i]())
	}
	img.closers = nil
	return errors.Join(errs...)
}

// Walk calls fn for every entry of the root file system, parents before children, in name order,
// with a tar header (Name relative to the root, no leading slash; Typeflag, Mode with the setuid,
// setgid and sticky bits, Uid, Gid, Size, Linkname) and, for a regular file, a reader of its content
// that is valid until fn returns. Walk never follows a symbolic link. An error of fn stops the walk
// and is returned as is.
func (img *Image) Walk(ctx context.Context, fn func(h *tar.Header, r io.Reader) error) (err error) {
	var fnErr error
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: reading the file system: %v", ErrCorrupt, r)
		}
	}()
	err = img.walkDir(ctx, ".", func(h *tar.Header, r io.Reader) error {
		if e := fn(h, r); e != nil {
			fnErr = e
			return e
		}
		return nil
	})
	if err != nil && fnErr == nil && !errors.Is(err, ctx.Err()) {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return err
}

// maxDepth bounds the directory nesting Walk follows: a corrupted directory that contains itself
// would otherwise recurse forever.
const maxDepth = 256

func (img *Image) walkDir(ctx context.Context, dir string, fn func(*tar.Header, io.Reader) error) error {
	if strings.Count(dir, "/") > maxDepth {
		return fmt.Errorf("%s: directories nested deeper than %d", dir, maxDepth)
	}
	entries, err := img.fs.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("reading directory /%s: %w", strings.TrimPrefix(dir, "."), err)
	}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		name := e.Name()
		if name == "." || name == ".." || strings.Contains(name, "/") {
			continue
		}
		p := path.Join(dir, name)
		// go-diskfs v1.9.4's DirEntry.Info drops the permission bits; a file opened, or Stat, has
		// them. Both look the path up again, so a regular file is opened once and asked.
		var f iofs.File
		fi, err := e.Info()
		if err == nil {
			switch {
			case fi.Mode().IsRegular():
				if f, err = img.fs.Open(p); err == nil {
					fi, err = f.Stat()
				}
			case fi.Mode()&iofs.ModeSymlink == 0:
				fi, err = img.fs.Stat(p)
			}
		}
		if err != nil {
			if f != nil {
				_ = f.Close()
			}
			return fmt.Errorf("reading /%s: %w", p, err)
		}
		h := header(p, fi)
		if h == nil {
			continue
		}
		if h.Typeflag == tar.TypeSymlink {
			// A link's own permissions mean nothing on Linux; its target is what matters.
			h.Mode = 0o777
			if h.Linkname == "" {
				if h.Linkname, err = img.fs.ReadLink(p); err != nil {
					return fmt.Errorf("reading symlink /%s: %w", p, err)
				}
			}
		}
		if f != nil {
			// The library reads a file's extents lazily; a short read is a damaged file system.
			err = fn(h, io.LimitReader(f, h.Size))
			_ = f.Close()
			if err != nil {
				return err
			}
		} else if err := fn(h, nil); err != nil {
			return err
		}
		if h.Typeflag == tar.TypeDir {
			if err := img.walkDir(ctx, p, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

// header describes one file system entry as a tar header; nil for a socket.
func header(p string, fi iofs.FileInfo) *tar.Header {
	m := fi.Mode()
	h := &tar.Header{Name: p, Mode: int64(m.Perm()), ModTime: fi.ModTime(), Format: tar.FormatPAX}
	if m&iofs.ModeSetuid != 0 {
		h.Mode |= 0o4000
	}
	if m&iofs.ModeSetgid != 0 {
		h.Mode |= 0o2000
	}
	if m&iofs.ModeSticky != 0 {
		h.Mode |= 0o1000
	}
	if st, ok := fi.Sys().(*ext4.StatT); ok && st != nil {
		h.Uid, h.Gid = int(st.UID), int(st.GID)
		h.Linkname = st.LinkTarget
	}
	switch {
	case m.IsDir():
		h.Typeflag = tar.TypeDir
	case m&iofs.ModeSymlink != 0:
		h.Typeflag = tar.TypeSymlink
	case m.IsRegular():
		h.Typeflag, h.Size = tar.TypeReg, fi.Size()
	case m&iofs.ModeNamedPipe != 0:
		h.Typeflag = tar.TypeFifo
	case m&iofs.ModeCharDevice != 0:
		h.Typeflag = tar.TypeChar
	case m&iofs.ModeDevice != 0:
		h.Typeflag = tar.TypeBlock
	default:
		// Sockets have no tar form and no content; nothing the audit reads is one.
		return nil
	}
	if h.Typeflag != tar.TypeSymlink {
		h.Linkname = ""
	}
	return h
}
