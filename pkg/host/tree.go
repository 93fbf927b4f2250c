package host

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/ingot-build/ingot/pkg/disk"
	"github.com/ingot-build/ingot/pkg/fault"
	"github.com/ingot-build/ingot/pkg/imageref"
	"github.com/ingot-build/ingot/pkg/secrets"
)

// Sentinel errors of reading a target, wrapped with the path they are about.
var (
	// ErrTarget reports a target that is neither a directory, a tarball nor a disk image.
	ErrTarget = fault.New(fault.Invalid, "host: unreadable target")
	// ErrSymlinkLoop reports a symbolic link chain that does not end within 40 links, as the kernel
	// counts (ELOOP).
	ErrSymlinkLoop = fault.New(fault.Invalid, "host: symbolic link loop")
	// ErrSymlinkEscape reports a symbolic link that climbs above the target's root with "..": inside
	// the booted machine it would resolve elsewhere than the audit can see, so the audit refuses it
	// rather than guess.
	ErrSymlinkEscape = fault.New(fault.Invalid, "host: symbolic link escapes the root")
)

// maxLinks is the kernel's limit on symbolic links followed in one lookup (MAXSYMLINKS).
const maxLinks = 40

// node is one entry of a target's file system.
type node struct {
	typ  byte  // tar.TypeReg, TypeDir, TypeSymlink, ...
	mode int64 // permission bits with setuid, setgid and sticky
	uid  int
	gid  int
	size int64
	link string // a symlink's target, verbatim
	// data is the content of a file the rules read (configuration under /etc, dpkg's status, sysctl
	// directories); kept is false for every other file, whose content is never held.
	data []byte
	kept bool
}

// Tree is a target's root file system, read once: every entry's metadata, and the content of the
// files the rules read. Symbolic links are resolved against the tree itself, never the machine
// running the audit.
type Tree struct {
	// Target names what was read; Kind is directory, tarball or disk.
	Target, Kind string
	nodes        map[string]*node
	children     map[string][]string
	// layer streams the tree as a tar; digest hashes that stream once, when first asked.
	layer  func(ctx context.Context, w io.Writer) error
	walk   walker
	digest struct {
		once   sync.Once
		diffID string
		size   int64
		err    error
	}
	close func() error
}

// Target kinds.
const (
	KindDirectory = "directory"
	KindTarball   = "tarball"
	KindDisk      = "disk"
)

// walker streams a target's entries.
type walker func(ctx context.Context, fn func(h *tar.Header, r io.Reader) error) error

// OpenOptions tune Open.
type OpenOptions struct {
	// Disk opens disk images (qemu-img, temporary directory).
	Disk disk.Options
	// Digest hashes the tree as the one-layer image of Image (its tar stream) during the walk that
	// indexes it, so that the image's digest costs no second read of the target.
	Digest bool
	// Secrets, when set, is handed every file it wants during that same walk; the caller asks it
	// for the findings once Open returns.
	Secrets *secrets.FileScan
	// Limits bound the tree's tar stream when Digest or Secrets read it, as they bound an image's
	// layers for the evidence stages (imageref.ErrTooLarge).
	Limits imageref.Limits
}

// Open reads a target, a root file system directory, a tarball (plain, gzip or zstd) or a raw or
// qcow2 disk image, once. The tree keeps the target open for Image; Close releases it.
func Open(ctx context.Context, target string, opt OpenOptions) (*Tree, error) {
	fi, err := os.Stat(target)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTarget, err)
	}
	t := &Tree{Target: target, nodes: map[string]*node{"": {typ: tar.TypeDir, mode: 0o755}}, children: map[string][]string{}, close: func() error { return nil }}
	var walk walker
	switch {
	case fi.IsDir():
		// The target itself may be a link to the directory (the user's own path on this machine);
		// everything below it is read without following links.
		dir, err := filepath.EvalSymlinks(target)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrTarget, err)
		}
		t.Kind, walk = KindDirectory, dirWalker(dir)
	default:
		f, err := os.Open(target)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrTarget, err)
		}
		_, isDisk := disk.Detect(f)
		_ = f.Close()
		if isDisk {
			img, err := disk.Open(ctx, target, opt.Disk)
			if err != nil {
				return nil, err
			}
			t.Kind, walk, t.close = KindDisk, img.Walk, img.Close
		} else {
			t.Kind, walk = KindTarball, tarWalker(target)
		}
	}
	t.walk = walk
	t.layer = func(ctx context.Context, w io.Writer) error { return writeTar(ctx, walk, w) }
	// The index walk reads only the content of kept files, unless the digest or the secrets scan
	// asks for more: then it is also the only read of every other file.
	var ix *indexer
	if opt.Digest {
		ix = newIndexer(opt.Limits)
		defer ix.stop()
	}
	err = walk(ctx, func(h *tar.Header, r io.Reader) error {
		h = normalise(h)
		if h == nil {
			return nil
		}
		data, err := ix.entry(h, r, opt.Secrets)
		if err != nil {
			return err
		}
		return t.add(h, data)
	})
	if err == nil && ix != nil {
		var diffID string
		var size int64
		if diffID, size, err = ix.finish(); err == nil {
			d := &t.digest
			d.once.Do(func() { d.diffID, d.size = diffID, size })
		}
	}
	if err != nil {
		_ = t.close()
		return nil, err
	}
	t.link()
	return t, nil
}

// layerDigest hashes the tree's tar stream: the one-layer image's diff ID (and digest) and size.
func (t *Tree) layerDigest() (string, int64, error) {
	d := &t.digest
	d.once.Do(func() {
		h := sha256.New()
		cw := &countWriter{w: h}
		if d.err = t.layer(context.Background(), cw); d.err == nil {
			d.diffID, d.size = fmt.Sprintf("sha256:%x", h.Sum(nil)), cw.n
		}
	})
	return d.diffID, d.size, d.err
}

// Close releases the target (a disk image and its temporary raw copy).
func (t *Tree) Close() error { return t.close() }

// countWriter counts what it passes on, failing beyond max when max is set.
type countWriter struct {
	w   io.Writer
	n   int64
	max int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	if c.max > 0 && c.n > c.max {
		return n, fmt.Errorf("%w of %d bytes", imageref.ErrTooLarge, c.max)
	}
	return n, err
}

// writeTar streams a walk as a tar.
func writeTar(ctx context.Context, walk walker, w io.Writer) error {
	tw := tar.NewWriter(w)
	err := walk(ctx, func(h *tar.Header, r io.Reader) error {
		h = normalise(h)
		if h == nil {
			return nil
		}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("writing /%s: %w", h.Name, err)
		}
		if h.Typeflag == tar.TypeReg && h.Size > 0 {
			if r == nil {
				return fmt.Errorf("reading /%s: no content", h.Name)
			}
			n, err := io.Copy(tw, io.LimitReader(r, h.Size))
			if err != nil {
				return fmt.Errorf("reading /%s: %w", h.Name, err)
			}
			if n != h.Size {
				return fmt.Errorf("reading /%s: %d of %d bytes (the file changed while being read)", h.Name, n, h.Size)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// normalise makes a header describe the entry alone, the same way on every walk: a clean relative
// name, no times but the modification time to the second, no user or group names. It returns nil
// for the root itself.
func normalise(h *tar.Header) *tar.Header {
	name := cleanPath(h.Name)
	if name == "" {
		return nil
	}
	out := &tar.Header{
		Name: name, Typeflag: h.Typeflag, Mode: h.Mode & 0o7777, Uid: h.Uid, Gid: h.Gid,
		Linkname: h.Linkname, ModTime: h.ModTime.Truncate(time.Second), Format: tar.FormatPAX,
		Devmajor: h.Devmajor, Devminor: h.Devminor,
	}
	switch h.Typeflag {
	case tar.TypeReg, '\x00':
		out.Typeflag, out.Size = tar.TypeReg, h.Size
	case tar.TypeDir:
		out.Name += "/"
	case tar.TypeLink:
		out.Linkname = cleanPath(h.Linkname)
	}
	return out
}

// cleanPath turns a name ("./etc/", "/etc/passwd") into a relative path without dots; the root is "".
func cleanPath(name string) string {
	return strings.TrimPrefix(path.Clean("/"+name), "/")
}

// keep reports whether a file's content is held for the rules: configuration under /etc, the
// package database and the sysctl directories, bounded in size.
func keep(name string, size int64) bool {
	name = strings.TrimSuffix(name, "/")
	switch {
	case name == "var/lib/dpkg/status":
		return size <= 64<<20
	case strings.HasPrefix(name, "etc/"),
		strings.HasPrefix(name, "usr/lib/sysctl.d/"), strings.HasPrefix(name, "lib/sysctl.d/"),
		strings.HasPrefix(name, "usr/local/lib/sysctl.d/"), strings.HasPrefix(name, "run/sysctl.d/"),
		name == "boot/grub/grub.cfg":
		return size <= 1<<20
	}
	return false
}

// add records one entry of the index walk. A later entry of the same name replaces an earlier one,
// as extracting a tarball does.
func (t *Tree) add(h *tar.Header, data []byte) error {
	name := strings.TrimSuffix(h.Name, "/")
	n := &node{typ: h.Typeflag, mode: h.Mode, uid: h.Uid, gid: h.Gid, size: h.Size, link: h.Linkname, data: data, kept: data != nil}
	if h.Typeflag == tar.TypeLink {
		// A hard link is its target, under another name.
		if target, ok := t.nodes[h.Linkname]; ok {
			c := *target
			n = &c
		} else {
			n = &node{typ: tar.TypeReg, mode: h.Mode, uid: h.Uid, gid: h.Gid}
		}
	}
	if _, dup := t.nodes[name]; !dup {
		// Tarballs may omit parent directories; they exist all the same.
		for dir, base := path.Split(name); ; dir, base = path.Split(strings.TrimSuffix(dir, "/")) {
			d := strings.TrimSuffix(dir, "/")
			t.children[d] = append(t.children[d], base)
			if _, ok := t.nodes[d]; ok || d == "" {
				break
			}
			t.nodes[d] = &node{typ: tar.TypeDir, mode: 0o755}
		}
	}
	t.nodes[name] = n
	return nil
}

// link sorts the directory listings once the walk is done.
func (t *Tree) link() {
	for d, names := range t.children {
		sort.Strings(names)
		t.children[d] = slicesCompact(names)
	}
}

func slicesCompact(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// resolve follows the symbolic links of p (a path from the root) inside the tree and returns the
// path of what it names; exists is false when nothing does. A link loop gives ErrSymlinkLoop and a
// link that climbs above the root ErrSymlinkEscape.
func (t *Tree) resolve(p string) (resolved string, exists bool, err error) {
	rest := splitPath(p)
	cur, links := "", 0
	for len(rest) > 0 {
		c := rest[0]
		rest = rest[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if cur == "" {
				return "", false, fmt.Errorf("%w: /%s (a link on the way climbs above /)", ErrSymlinkEscape, cleanPath(p))
			}
			cur = path.Dir(cur)
			if cur == "." {
				cur = ""
			}
			continue
		}
		next := path.Join(cur, c)
		n, ok := t.nodes[next]
		if !ok {
			return next, false, nil
		}
		if n.typ != tar.TypeSymlink {
			if len(rest) > 0 && n.typ != tar.TypeDir {
				return next, false, nil
			}
			cur = next
			continue
		}
		links++
		if links > maxLinks {
			return "", false, fmt.Errorf("%w: /%s (more than %d links)", ErrSymlinkLoop, cleanPath(p), maxLinks)
		}
		if strings.HasPrefix(n.link, "/") {
			cur = ""
		}
		rest = append(splitPath(n.link), rest...)
	}
	return cur, true, nil
}

func splitPath(p string) []string { return strings.Split(p, "/") }

// lookup resolves p and returns its node, nil when it does not exist.
func (t *Tree) lookup(p string) (*node, string, error) {
	r, ok, err := t.resolve(p)
	if err != nil || !ok {
		return nil, r, err
	}
	return t.nodes[r], r, nil
}

// readFile returns the content of a kept regular file; ok is false when it does not exist or is not
// a regular file.
func (t *Tree) readFile(p string) (data []byte, ok bool, err error) {
	n, r, err := t.lookup(p)
	if err != nil || n == nil || n.typ != tar.TypeReg {
		return nil, false, err
	}
	if !n.kept {
		if err := t.fetch(r, n); err != nil {
			return nil, false, err
		}
	}
	return n.data, true, nil
}

// maxFetch bounds a file read outside the kept set: configuration reached through a link.
const maxFetch = 1 << 20

// fetch reads the content of one file that the first walk did not keep (a configuration file that
// a link in /etc points out of it), with another walk of the target.
func (t *Tree) fetch(p string, n *node) error {
	if n.size > maxFetch {
		return fault.Errorf(fault.Invalid, "host: /%s is %d bytes, more than a configuration file may be", p, n.size)
	}
	if n.size == 0 {
		n.kept = true
		return nil
	}
	errFound := errors.New("found")
	err := t.walk(context.Background(), func(h *tar.Header, r io.Reader) error {
		if cleanPath(h.Name) != p || r == nil {
			return nil
		}
		data, err := io.ReadAll(io.LimitReader(r, maxFetch))
		if err != nil {
			return err
		}
		n.data, n.kept = data, true
		return errFound
	})
	if err != nil && !errors.Is(err, errFound) {
		return fmt.Errorf("reading /%s: %w", p, err)
	}
	if !n.kept {
		return fmt.Errorf("host: /%s vanished from the target", p)
	}
	return nil
}

// list returns the names in directory p (after resolving it), sorted; nil when it does not exist.
func (t *Tree) list(p string) ([]string, error) {
	n, r, err := t.lookup(p)
	if err != nil || n == nil || n.typ != tar.TypeDir {
		return nil, err
	}
	return t.children[r], nil
}

// dirWalker walks a directory without ever following a symbolic link; files are opened through an
// os.Root, which refuses any path that would leave the directory.
func dirWalker(dir string) walker {
	return func(ctx context.Context, fn func(*tar.Header, io.Reader) error) error {
		root, err := os.OpenRoot(dir)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrTarget, err)
		}
		defer func() { _ = root.Close() }()
		// Files are opened through a root of their own directory, kept while the walk is in it: a
		// path opened through the top root is resolved one component at a time, which cost more
		// than reading most files.
		var in struct {
			dir  string
			root *os.Root
		}
		defer func() {
			if in.root != nil {
				_ = in.root.Close()
			}
		}()
		openIn := func(name string) (*os.File, error) {
			d, base := path.Split(name)
			if d = strings.TrimSuffix(d, "/"); in.root == nil || in.dir != d {
				if in.root != nil {
					_ = in.root.Close()
					in.root = nil
				}
				r := root
				if d != "" {
					var err error
					if r, err = root.OpenRoot(d); err != nil {
						return nil, err
					}
				}
				in.dir, in.root = d, r
				if d == "" {
					in.root = nil // the top root is closed by the walk itself
					return root.Open(base)
				}
			}
			return in.root.Open(base)
		}
		return filepath.WalkDir(dir, func(p string, d iofs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			rel, err := filepath.Rel(dir, p)
			if err != nil {
				return err
			}
			if rel == "." {
				return nil
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			h, err := tar.FileInfoHeader(fi, "")
			if err != nil {
				if fi.Mode()&iofs.ModeSocket != 0 {
					return nil
				}
				return fmt.Errorf("reading %s: %w", p, err)
			}
			h.Name = filepath.ToSlash(rel)
			h.Uname, h.Gname = "", ""
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				h.Uid, h.Gid = int(st.Uid), int(st.Gid)
			}
			if fi.Mode()&iofs.ModeSymlink != 0 {
				if h.Linkname, err = os.Readlink(p); err != nil {
					return err
				}
			}
			if h.Typeflag != tar.TypeReg {
				return fn(h, nil)
			}
			// Opened on the first read: the index walk reads only the files it keeps.
			lr := &lazyFile{open: openIn, name: filepath.ToSlash(rel)}
			defer func() { _ = lr.Close() }()
			return fn(h, lr)
		})
	}
}

// tarWalker reads a tarball, plain or compressed with gzip or zstd.
func tarWalker(name string) walker {
	return func(ctx context.Context, fn func(*tar.Header, io.Reader) error) error {
		f, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrTarget, err)
		}
		defer f.Close()
		br := bufio.NewReaderSize(f, 256<<10)
		head, _ := br.Peek(4)
		var r io.Reader = br
		switch {
		case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
			zr, err := gzip.NewReader(br)
			if err != nil {
				return fmt.Errorf("%w: %s: %w", ErrTarget, name, err)
			}
			defer func() { _ = zr.Close() }()
			r = zr
		case bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
			zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1))
			if err != nil {
				return fmt.Errorf("%w: %s: %w", ErrTarget, name, err)
			}
			defer zr.Close()
			r = zr
		}
		tr := tar.NewReader(r)
		entries := 0
		for {
			if err := ctx.Err(); err != nil {
				return err
			}
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				if entries == 0 {
					return fmt.Errorf("%w: %s is not a tarball or holds nothing", ErrTarget, name)
				}
				return nil
			}
			if err != nil {
				return fmt.Errorf("%w: %s: %w", ErrTarget, name, err)
			}
			entries++
			if err := fn(h, tr); err != nil {
				return err
			}
		}
	}
}

// lazyFile opens a file of the walked directory when first read.
type lazyFile struct {
	open func(name string) (*os.File, error)
	name string
	f    *os.File
	err  error
}

func (l *lazyFile) Read(p []byte) (int, error) {
	if l.f == nil && l.err == nil {
		l.f, l.err = l.open(l.name)
	}
	if l.err != nil {
		return 0, l.err
	}
	return l.f.Read(p)
}

func (l *lazyFile) Close() error {
	if l.f != nil {
		return l.f.Close()
	}
	return nil
}
