package spec

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/ingot-build/ingot/pkg/fault"
)

// A spec names files of the machine that builds it: files[].source, evidence.tests and evidence.vex.
// A spec is input, possibly written by another team and built by a shared server, so those files are
// confined: each must lie, after symlinks, inside the spec's directory or a directory the builder
// allows explicitly. Otherwise "source: /etc/shadow" would copy the builder's secrets into an image.

// LocalFile is a file or directory of the building machine that a spec names, resolved and found
// inside an allowed directory.
type LocalFile struct {
	// Field is where the spec names it ("files[0].source"), Name the path as the spec writes it.
	Field, Name string
	// Root is the directory it lies in (the spec's, or an allowed one) and Rel its path below Root
	// ("." for Root itself), both with every symlink resolved.
	Root, Rel string
	// Exists is false when nothing is at the path yet: a lock does not read local files, a build does.
	Exists bool
}

// LocalFiles are the local files a spec names, by field.
type LocalFiles struct {
	// Files holds the source of each Spec.Files entry, in order.
	Files []LocalFile
	// Tests is evidence.tests; nil when the spec names none.
	Tests *LocalFile
	// VEX holds evidence.vex, in order.
	VEX []LocalFile
}

// Local resolves every local file the spec names, relative to Dir, following symlinks (as opening it
// would), and checks that each lies inside Dir or one of the allowed directories. Every file outside
// is a FieldError (fault.Invalid) naming its field; an allowed directory that does not exist is an
// error too. A path that does not exist yet is checked as far as it exists.
//
// Local is a check of names at one moment: readers must go through the result (LocalFile.ReadFile,
// LocalFile.OpenRoot), which stay inside Root even if the files change afterwards.
func (s *Spec) Local(allowed ...string) (*LocalFiles, error) {
	roots, err := localRoots(s.Dir, allowed)
	if err != nil {
		return nil, err
	}
	var errs []error
	resolve := func(field, name string) LocalFile {
		f, err := roots.resolve(s.Dir, field, name)
		if err != nil {
			errs = append(errs, err)
		}
		return f
	}
	out := &LocalFiles{}
	for i, f := range s.Files {
		out.Files = append(out.Files, resolve(fmt.Sprintf("files[%d].source", i), f.Source))
	}
	if e := s.Evidence; e != nil {
		if e.Tests != "" {
			f := resolve("evidence.tests", e.Tests)
			out.Tests = &f
		}
		for i, v := range e.VEX {
			out.VEX = append(out.VEX, resolve(fmt.Sprintf("evidence.vex[%d]", i), v))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// CheckExist refuses every file that is not there: a build reads them all.
func (l *LocalFiles) CheckExist() error {
	var errs []error
	all := append(slices.Clone(l.Files), l.VEX...)
	if l.Tests != nil {
		all = append(all, *l.Tests)
	}
	for _, f := range all {
		if !f.Exists {
			errs = append(errs, f.Missing())
		}
	}
	return errors.Join(errs...)
}

// Missing is the error for a local file that is not there: the spec names something that does not
// exist, so it is the spec that is wrong (fault.Invalid).
func (f LocalFile) Missing() error {
	return &FieldError{Field: f.Field, Reason: fmt.Sprintf("%q does not exist", f.Name)}
}

// Path is where the file was found, symlinks resolved.
func (f LocalFile) Path() string { return filepath.Join(f.Root, f.Rel) }

// OpenRoot opens the directory the file lies in. Every access through an os.Root stays inside it:
// a symlink leading out is refused at the moment of the access, so a file swapped for such a link
// after Local checked it cannot take a read outside.
func (f LocalFile) OpenRoot() (*os.Root, error) { return os.OpenRoot(f.Root) }

// ReadFile reads the file, which must be a regular file, through its root.
func (f LocalFile) ReadFile() ([]byte, error) {
	if !f.Exists {
		return nil, f.Missing()
	}
	root, err := f.OpenRoot()
	if err != nil {
		return nil, err
	}
	defer func() { _ = root.Close() }() // a directory opened to read: closing it loses nothing
	data, err := ReadRegular(root, f.Rel)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Field, err)
	}
	return data, nil
}

// Recheck resolves the file again and returns its path if nothing along it has become a symlink since
// Local resolved it. It is for readers that take a path rather than bytes; they read it at once.
func (f LocalFile) Recheck() (string, error) {
	if !f.Exists {
		return "", f.Missing()
	}
	p := f.Path()
	r, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", fmt.Errorf("%s: %w", f.Field, err)
	}
	if r != p {
		return "", &FieldError{Field: f.Field, Reason: fmt.Sprintf("%q changed while it was being read (%s is now %s)", f.Name, p, r)}
	}
	return p, nil
}

// ReadRegular reads name below root. It must be a regular file: a FIFO or device would block a build
// or read something that is not a file. Opening does not block on a FIFO, and the type is checked on
// what was opened, not on an earlier look at the name.
func ReadRegular(root *os.Root, name string) ([]byte, error) {
	fh, err := root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", name)
	}
	return io.ReadAll(fh)
}

// root is a directory local files may lie in.
type root struct {
	// dir is the directory with symlinks resolved, shown as the user named it.
	dir, shown string
}

type roots struct {
	spec    *root
	allowed []root
}

// ErrAllowedDir means a directory given as allowed for local files does not exist or is not a
// directory.
var ErrAllowedDir = fault.New(fault.Invalid, "spec: allowed directory for local files")

func localRoots(specDir string, allowed []string) (roots, error) {
	var rs roots
	if specDir != "" {
		d, err := filepath.EvalSymlinks(specDir)
		if err != nil {
			return rs, fmt.Errorf("spec directory: %w", err)
		}
		rs.spec = &root{dir: d, shown: specDir}
	}
	for _, a := range allowed {
		abs, err := filepath.Abs(a)
		if err != nil {
			return rs, fmt.Errorf("%w %s: %w", ErrAllowedDir, a, err)
		}
		d, err := filepath.EvalSymlinks(abs)
		if err != nil {
			return rs, fmt.Errorf("%w %s: %w", ErrAllowedDir, a, err)
		}
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			return rs, fmt.Errorf("%w %s: not a directory", ErrAllowedDir, a)
		}
		rs.allowed = append(rs.allowed, root{dir: d, shown: a})
	}
	return rs, nil
}

func (rs roots) resolve(specDir, field, name string) (LocalFile, error) {
	f := LocalFile{Field: field, Name: name}
	bad := func(format string, args ...any) (LocalFile, error) {
		return f, &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
	}
	p := name
	if !filepath.IsAbs(p) {
		if rs.spec == nil {
			return bad("%q is relative, but the spec was not read from a directory", name)
		}
		// Not filepath.Join: it would drop "dir/link/.." lexically, where the file system goes to the
		// link target's parent. EvalSymlinks walks ".." as the file system does.
		p = specDir + string(filepath.Separator) + p
	}
	resolved, exists, err := resolvePath(p)
	if err != nil {
		return bad("%q: %v", name, err)
	}
	f.Exists = exists
	for _, r := range rs.all() {
		if rel, ok := within(r.dir, resolved); ok {
			f.Root, f.Rel = r.dir, rel
			return f, nil
		}
	}
	return bad("%q resolves outside %s", name, rs.describe())
}

func (rs roots) all() []root {
	if rs.spec == nil {
		return rs.allowed
	}
	return append([]root{*rs.spec}, rs.allowed...)
}

// describe names the directories a local file may lie in, for an error message.
func (rs roots) describe() string {
	var shown []string
	for _, a := range rs.allowed {
		shown = append(shown, a.shown)
	}
	switch {
	case rs.spec == nil && len(shown) == 0:
		return "any allowed directory (none is allowed)"
	case rs.spec == nil:
		return "the allowed directories " + strings.Join(shown, ", ")
	case len(shown) == 0:
		return "the spec directory " + rs.spec.shown
	default:
		return "the spec directory " + rs.spec.shown + " and the allowed directories " + strings.Join(shown, ", ")
	}
}

// resolvePath resolves every symlink of p, an absolute path. When nothing is at p, it resolves the
// deepest ancestor that exists and appends the rest as written (exists is false then): nothing can
// be read there yet, and what the rest adds is checked lexically, which is stricter than the file
// system ("missing/../.." cannot be walked at all). A dangling symlink counts as missing: a build
// resolves again, and refuses what is not there.
func resolvePath(p string) (resolved string, exists bool, err error) {
	r, err := filepath.EvalSymlinks(p)
	if err == nil {
		return r, true, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", false, err
	}
	sep := string(filepath.Separator)
	parts := strings.Split(p, sep)
	for k := len(parts) - 1; k >= 1; k-- {
		prefix := strings.Join(parts[:k], sep)
		if prefix == "" {
			prefix = sep
		}
		r, err := filepath.EvalSymlinks(prefix)
		if err == nil {
			return filepath.Join(append([]string{r}, parts[k:]...)...), false, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", false, err
		}
	}
	return "", false, err
}

// within returns p's path below dir, if it is there; both are absolute and clean.
func within(dir, p string) (string, bool) {
	rel, err := filepath.Rel(dir, p)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", false
	}
	return rel, true
}
