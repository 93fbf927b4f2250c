package imagetest

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ingot-build/ingot/pkg/imageref"
	"github.com/ingot-build/ingot/pkg/layers"
)

// Errors of reading an image's layers.
var (
	// ErrUnsafeLayer means a layer holds an entry that would escape the root: a ".." path element in a
	// name or hardlink target, or a hardlink to a missing file.
	ErrUnsafeLayer = errors.New("imagetest: unsafe layer entry")
	// ErrNotDir means a path goes through something that is not a directory.
	ErrNotDir = errors.New("imagetest: not a directory")
	// ErrSymlinkLoop means resolving a path followed too many symbolic links.
	ErrSymlinkLoop = errors.New("imagetest: too many levels of symbolic links")
)

const (
	// maxSymlinks is the kernel's limit on symlinks followed while resolving one path.
	maxSymlinks = 40
	// maxEntries bounds the tree kept in memory.
	maxEntries = 4 << 20
	// maxPath is the kernel's PATH_MAX: no file in a real file system has a longer name or symlink target.
	maxPath = 4096
	// Whiteout markers of the OCI layer format.
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
)

// node is one name in the flattened file system.
type node struct {
	mode     fs.FileMode // type and permission bits, as fs.FileMode
	uid, gid int
	size     int64
	target   string // symlink target, verbatim
	// layer and entry locate the tar entry that holds a regular file's content (for a hardlink: its
	// target's), so it can be read again without keeping contents in memory.
	layer, entry int
	children     map[string]*node // directories
}

func (n *node) isDir() bool { return n.mode.IsDir() }

// tree is an image's file system after applying its layers in order, as a container runtime would.
// When root is set, the layers are also unpacked there, safely: every path written is resolved in the
// tree first (symlinks followed within the image, never out of it) and written through an os.Root.
type tree struct {
	top   *node
	count int
	root  *os.Root
	// written tracks, for the layer being applied, which names it wrote: whiteouts only hide what
	// lower layers put there.
	written map[*node]bool
}

func newTree(root *os.Root) *tree {
	return &tree{top: &node{mode: fs.ModeDir | 0o755, layer: -1, children: map[string]*node{}}, root: root}
}

// readLayers applies every layer of img to a new tree (and to root, when set), through the layer
// walker.
func readLayers(ctx context.Context, lr *imageref.LayerReader, img v1.Image, root *os.Root) (*tree, error) {
	li, err := layers.Open(img)
	if err != nil {
		return nil, fmt.Errorf("reading layers: %w", err)
	}
	v := &treeVisitor{t: newTree(root)}
	if err := layers.Walk(ctx, li, layers.Options{Reader: lr, Sequential: root != nil}, v); err != nil {
		return nil, err
	}
	return v.t, nil
}

// treeVisitor applies every entry of the walk to a tree, streaming contents to its root if it has one.
type treeVisitor struct {
	t     *tree
	layer int
}

func (v *treeVisitor) Want(*layers.Entry) layers.Interest {
	return layers.Interest{Visit: true, Stream: v.t.root != nil}
}

func (v *treeVisitor) Visit(_ context.Context, e *layers.Entry) error {
	if e.Index == 0 || v.t.written == nil || e.Layer != v.layer {
		v.t.written, v.layer = map[*node]bool{}, e.Layer
	}
	if err := v.t.apply(e.Layer, e.Index, e.Header, e.Reader); err != nil {
		return fmt.Errorf("layer %d: %s: %w", e.Layer, e.Header.Name, err)
	}
	return nil
}

func (v *treeVisitor) Done(context.Context, *layers.FS) error { return nil }

// split cleans an image path into its elements, refusing "..": a layer entry never needs it.
func split(name string) ([]string, error) {
	if len(name) > maxPath {
		return nil, fmt.Errorf("%w: a name of %d bytes (the limit is %d)", ErrUnsafeLayer, len(name), maxPath)
	}
	var out []string
	for _, e := range strings.Split(name, "/") {
		switch e {
		case "", ".":
		case "..":
			return nil, fmt.Errorf("%w: %q has a \"..\" element", ErrUnsafeLayer, name)
		default:
			out = append(out, e)
		}
	}
	return out, nil
}

// apply adds one tar entry of layer i.
func (t *tree) apply(i, entry int, hdr *tar.Header, r io.Reader) error {
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	elems, err := split(hdr.Name)
	if err != nil {
		return err
	}
	if len(elems) == 0 { // the root itself: only its metadata
		if hdr.Typeflag == tar.TypeDir {
			t.top.mode, t.top.uid, t.top.gid = hdr.FileInfo().Mode(), hdr.Uid, hdr.Gid
			return t.diskMeta("", t.top)
		}
		return nil
	}
	base := elems[len(elems)-1]
	if strings.HasPrefix(base, whiteoutPrefix) {
		dirPath, dir, err := t.lookup(elems[:len(elems)-1], true)
		if errors.Is(err, ErrNotDir) || dir == nil || !dir.isDir() {
			return nil // nothing below to hide
		}
		if err != nil {
			return err
		}
		if base == whiteoutOpaque {
			return t.opaque(dirPath, dir)
		}
		name := strings.TrimPrefix(base, whiteoutPrefix)
		if old := dir.children[name]; old != nil && !t.written[old] {
			delete(dir.children, name)
			return t.diskRemove(join(dirPath, name))
		}
		return nil
	}
	dirPath, parent, err := t.mkdirAll(elems[:len(elems)-1], i)
	if err != nil {
		return err
	}
	p := join(dirPath, base)
	old := parent.children[base]
	n := &node{mode: hdr.FileInfo().Mode(), uid: hdr.Uid, gid: hdr.Gid, layer: i, entry: entry}
	linkPath := ""
	switch hdr.Typeflag {
	case tar.TypeDir:
		if old != nil && old.isDir() {
			old.mode, old.uid, old.gid = n.mode, n.uid, n.gid
			t.written[old] = true
			return t.diskMeta(p, old)
		}
		n.children = map[string]*node{}
	case tar.TypeReg, tar.TypeGNUSparse: // archive/tar reports the old TypeRegA as TypeReg
		n.mode = n.mode.Perm() | n.mode&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)
		n.size = hdr.Size
	case tar.TypeSymlink:
		if len(hdr.Linkname) > maxPath {
			return fmt.Errorf("%w: a symlink target of %d bytes (the limit is %d)", ErrUnsafeLayer, len(hdr.Linkname), maxPath)
		}
		n.target = hdr.Linkname
	case tar.TypeLink:
		telems, err := split(hdr.Linkname)
		if err != nil {
			return err
		}
		tp, target, err := t.lookup(telems, false)
		if err != nil || target == nil || target.isDir() {
			return fmt.Errorf("%w: hardlink to %q, which is not a file in the image", ErrUnsafeLayer, hdr.Linkname)
		}
		if target == old {
			return nil
		}
		*n = *target
		if target.mode.IsRegular() {
			linkPath = tp
		}
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
	default:
		return nil // other entry types (GNU volume headers, ...) carry no file
	}
	if old != nil {
		delete(parent.children, base)
		t.count--
		if err := t.diskRemove(p); err != nil {
			return err
		}
	}
	if err := t.add(parent, base, n); err != nil {
		return err
	}
	if linkPath != "" {
		return t.diskLink(linkPath, p)
	}
	return t.diskCreate(p, n, r)
}

func (t *tree) add(parent *node, name string, n *node) error {
	t.count++
	if t.count > maxEntries {
		return fmt.Errorf("%w: more than %d files", ErrUnsafeLayer, maxEntries)
	}
	parent.children[name] = n
	t.written[n] = true
	return nil
}

// opaque removes what lower layers put in a directory.
func (t *tree) opaque(dirPath string, dir *node) error {
	for name, c := range dir.children {
		p := join(dirPath, name)
		if !t.written[c] {
			delete(dir.children, name)
			if err := t.diskRemove(p); err != nil {
				return err
			}
		} else if c.isDir() {
			if err := t.opaque(p, c); err != nil {
				return err
			}
		}
	}
	return nil
}

// mkdirAll resolves the directory elems, following symlinks within the image and creating missing
// directories (root-owned, 0755) as runtimes do. It returns the directory's symlink-free path.
func (t *tree) mkdirAll(elems []string, layer int) (string, *node, error) {
	p, n, err := t.walk(elems, true, func(dir *node, dirPath, name string) (*node, error) {
		c := &node{mode: fs.ModeDir | 0o755, layer: layer, children: map[string]*node{}}
		if err := t.add(dir, name, c); err != nil {
			return nil, err
		}
		return c, t.diskCreate(join(dirPath, name), c, nil)
	})
	if err != nil {
		return "", nil, err
	}
	if !n.isDir() {
		return "", nil, fmt.Errorf("%s: %w", p, ErrNotDir)
	}
	return p, n, nil
}

// lookup resolves elems as a process inside the image would: symlinks are followed (absolute ones
// from the image root, ".." stops at the root), the last one only when followLast. It returns the
// symlink-free path and the node, nil when the name does not exist.
func (t *tree) lookup(elems []string, followLast bool) (string, *node, error) {
	return t.walk(elems, followLast, nil)
}

// walk is lookup, calling missing (when not nil) to create directories that do not exist; it then
// follows the last element too. The path walked so far is kept in one buffer, so a walk costs time in
// proportion to the elements it visits, however deep.
func (t *tree) walk(elems []string, followLast bool, missing func(dir *node, dirPath, name string) (*node, error)) (string, *node, error) {
	stack := []step{{n: t.top}}
	var buf []byte // "/a/b" for the stack [root a b]; stack[i].end is where element i ends in it
	curPath := func() string {
		if len(buf) == 0 {
			return "/"
		}
		return string(buf)
	}
	todo := append([]string(nil), elems...)
	links := 0
	for len(todo) > 0 {
		e := todo[0]
		todo = todo[1:]
		cur := stack[len(stack)-1]
		switch e {
		case "", ".":
			continue
		case "..":
			if len(stack) > 1 {
				stack = stack[:len(stack)-1]
				buf = buf[:stack[len(stack)-1].end]
			}
			continue
		}
		if !cur.n.isDir() {
			return "", nil, fmt.Errorf("%s: %w", curPath(), ErrNotDir)
		}
		c := cur.n.children[e]
		if c == nil {
			if missing == nil {
				if len(todo) > 0 {
					return "", nil, nil
				}
				return join(curPath(), e), nil, nil
			}
			var err error
			if c, err = missing(cur.n, curPath(), e); err != nil {
				return "", nil, err
			}
		}
		if c.mode&fs.ModeSymlink != 0 && (len(todo) > 0 || followLast || missing != nil) {
			links++
			if links > maxSymlinks {
				return "", nil, fmt.Errorf("%s: %w", join(curPath(), e), ErrSymlinkLoop)
			}
			if strings.HasPrefix(c.target, "/") {
				stack, buf = stack[:1], buf[:0]
			}
			todo = append(strings.Split(c.target, "/"), todo...)
			continue
		}
		buf = append(append(buf, '/'), e...)
		stack = append(stack, step{n: c, end: len(buf)})
	}
	return curPath(), stack[len(stack)-1].n, nil
}

// step is one resolved element of a path being walked.
type step struct {
	n   *node
	end int
}

func join(dir, name string) string {
	if dir == "/" || dir == "" {
		return "/" + name
	}
	return dir + "/" + name
}

// rel is the os.Root name of an image path.
func rel(p string) string {
	if p = strings.TrimPrefix(path.Clean(p), "/"); p == "" {
		return "."
	}
	return p
}

// Stat returns the node at an absolute image path: directories leading to it are resolved through
// symlinks; the last element too when followLast.
func (t *tree) stat(p string, followLast bool) (string, *node, error) {
	elems := strings.Split(p, "/")
	return t.walk(elems, followLast, nil)
}

// headerAhead is how many entries of a layer the walk reads ahead of the one being applied.
const headerAhead = layers.Ahead
