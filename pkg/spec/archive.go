package spec

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"time"

	"github.com/ingot-build/ingot/pkg/fault"
)

// ErrArchive means a spec's file archive cannot be unpacked: a name that leaves the directory, an
// entry of a kind a spec cannot name, or a damaged tar.
var ErrArchive = fault.New(fault.Invalid, "spec: invalid file archive")

// Archive packs the local files a spec names (files[].source, evidence.tests, evidence.vex) into a
// tar, each under the path the spec names it by, relative to the spec's directory: unpacked into an
// empty directory beside the spec, they are found where the spec looks. Directories are walked;
// symlinks inside them are kept as links, never followed, as a build copies them. The tar is
// deterministic (sorted, no times, no owners), so the same files make the same bytes.
//
// Only files inside the spec's directory can be archived (a file another directory was allowed for
// would not be found under its absolute name elsewhere): resolve the files with Local and no allowed
// directories. Every file must exist.
func (l *LocalFiles) Archive() ([]byte, error) {
	all := append([]LocalFile{}, l.Files...)
	if l.Tests != nil {
		all = append(all, *l.Tests)
	}
	all = append(all, l.VEX...)
	entries := map[string]*tar.Header{}
	data := map[string][]byte{}
	for _, f := range all {
		if !f.Exists {
			return nil, f.Missing()
		}
		name := filepath.ToSlash(filepath.Clean(f.Name))
		if !filepath.IsLocal(filepath.FromSlash(name)) {
			return nil, &FieldError{Field: f.Field, Reason: fmt.Sprintf("%q is not a path relative to the spec's directory", f.Name)}
		}
		if err := f.archive(name, entries, data); err != nil {
			return nil, fmt.Errorf("%s: %w", f.Field, err)
		}
	}
	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		if err := tw.WriteHeader(entries[n]); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data[n]); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// archive adds the file or tree f to entries under name, with its parent directories.
func (f LocalFile) archive(name string, entries map[string]*tar.Header, data map[string][]byte) error {
	root, err := f.OpenRoot()
	if err != nil {
		return err
	}
	defer func() { _ = root.Close() }() // opened to read: closing it loses nothing
	for dir := path.Dir(name); dir != "."; dir = path.Dir(dir) {
		entries[dir+"/"] = dirHeader(dir + "/")
	}
	// The spec names the file itself: a symlink at the top is what it points to, as a build reads it.
	fi, err := root.Stat(f.Rel)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return addEntry(root, f.Rel, name, fi, entries, data)
	}
	return fs.WalkDir(root.FS(), filepath.ToSlash(f.Rel), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(f.Rel, filepath.FromSlash(p))
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		return addEntry(root, filepath.FromSlash(p), path.Join(name, filepath.ToSlash(rel)), fi, entries, data)
	})
}

func dirHeader(name string) *tar.Header {
	return &tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
}

// addEntry records one entry below root; fi is what was found there (not following a final symlink
// inside a walked directory).
func addEntry(root *os.Root, src, name string, fi fs.FileInfo, entries map[string]*tar.Header, data map[string][]byte) error {
	h := &tar.Header{Name: name, ModTime: time.Unix(0, 0), Format: tar.FormatPAX, Mode: int64(fi.Mode().Perm())}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		target, err := root.Readlink(src)
		if err != nil {
			return err
		}
		h.Typeflag, h.Linkname, h.Mode = tar.TypeSymlink, target, 0o777
	case fi.IsDir():
		h = dirHeader(name + "/")
	case fi.Mode().IsRegular():
		b, err := ReadRegular(root, src)
		if err != nil {
			return err
		}
		h.Typeflag, h.Size = tar.TypeReg, int64(len(b))
		data[h.Name] = b
	default:
		return fmt.Errorf("%s: only regular files, directories and symlinks can be named by a spec", src)
	}
	entries[h.Name] = h
	return nil
}

// Unarchive unpacks an Archive into dir, which must exist: every entry stays inside it (names that
// leave it are refused, and writes go through an os.Root, so no link leads a write out).
func Unarchive(archive []byte, dir string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer func() { _ = root.Close() }() // what was written is in place
	tr := tar.NewReader(bytes.NewReader(archive))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %w", ErrArchive, err)
		}
		name := filepath.FromSlash(path.Clean(h.Name))
		if !filepath.IsLocal(name) {
			return fmt.Errorf("%w: %q leaves the directory", ErrArchive, h.Name)
		}
		if d := filepath.Dir(name); d != "." {
			if err := root.MkdirAll(d, 0o755); err != nil {
				return err
			}
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := root.MkdirAll(name, 0o755); err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := root.Symlink(h.Linkname, name); err != nil {
				return err
			}
		case tar.TypeReg:
			w, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fs.FileMode(h.Mode&0o777)) //nolint:gosec // G115: masked to the permission bits
			if err != nil {
				return err
			}
			_, err = io.Copy(w, tr) //nolint:gosec // G110: a tar is not compressed; its entries are the size the archive is
			if err := errors.Join(err, w.Close()); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%w: %q is neither a file, a directory nor a symlink", ErrArchive, h.Name)
		}
	}
}
