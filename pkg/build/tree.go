package build

import (
	"archive/tar"
	"fmt"
	"path"
	"strings"
	"time"
)

// maxSymlinks is the kernel's limit on symlinks followed while resolving one path (MAXSYMLINKS).
const maxSymlinks = 40

// baseLayer marks nodes that come from the base image: they are emitted only as parents of our entries.
const baseLayer = -1

// inode is the content and metadata of a regular file, shared by all its hardlinks, so that changing the
// permissions of one name changes them all and overwriting one name replaces only that name.
type inode struct {
	data     []byte
	mode     int64 // permission bits with setuid, setgid and sticky
	uid, gid int
	mtime    time.Time // zero: the epoch
	// noData marks a base image file whose content was not kept.
	noData bool
}

// node is one name in the merged tree.
type node struct {
	typ byte // tar.TypeDir, TypeReg, TypeSymlink, TypeChar, TypeBlock or TypeFifo
	// Metadata of directories, symlinks and special files; regular files keep theirs in ino.
	mode     int64
	uid, gid int
	mtime    time.Time // zero: the epoch
	link     string    // symlink target, verbatim
	ino      *inode    // regular files
	devmajor int64     // character and block devices
	devminor int64
	// layer carries a non-directory; baseLayer for base image entries.
	layer int
	// touch lists the layers that shipped a directory; every layer also carries the parents of its
	// entries.
	touch []int
	// implicit marks a directory created as a missing parent: the first entry that ships it explicitly
	// sets its metadata.
	implicit bool
}

// tree is the merged file system, keyed by clean relative path ("" is the root). Every node's parent
// exists in it as a directory.
type tree struct {
	nodes map[string]*node
}

func newTree(sizeHint int) *tree {
	t := &tree{nodes: make(map[string]*node, sizeHint)}
	t.nodes[""] = &node{typ: tar.TypeDir, mode: 0o755, implicit: true, layer: baseLayer}
	return t
}

// cleanAbs turns an absolute image path into the tree's relative form ("" is the root).
func cleanAbs(p string) string {
	return strings.TrimPrefix(path.Clean("/"+p), "/")
}

func join(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

func parentOf(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return ""
}

func splitPath(p string) (dir, name string) {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i], p[i+1:]
	}
	return "", p
}

// resolve interprets p against the image root as the kernel would on a real root, following symlinks in
// every component, and in the last one too when followLast is set. Absolute symlink targets restart at
// the image root. It never leaves the tree: ".." above the root is ErrEscape. Components that do not
// exist are kept as they are, so the result may name missing directories (callers create them). It
// returns the resolved path, free of symlinks except possibly the last component, and its node if any.
func (t *tree) resolve(p string, followLast bool) (string, *node, error) {
	links := 0
	cur := ""
	rest := p
	for rest != "" {
		var comp string
		comp, rest, _ = strings.Cut(rest, "/")
		switch comp {
		case "", ".":
			continue
		case "..":
			if cur == "" {
				return "", nil, fmt.Errorf("resolving %s: %w", p, ErrEscape)
			}
			cur = parentOf(cur)
			continue
		}
		next := join(cur, comp)
		n := t.nodes[next]
		last := strings.Trim(rest, "/") == ""
		switch {
		case n == nil:
			cur = next
		case n.typ == tar.TypeSymlink && (!last || followLast):
			links++
			if links > maxSymlinks {
				return "", nil, fmt.Errorf("resolving %s: %w", p, ErrSymlinkLoop)
			}
			target := n.link
			if strings.HasPrefix(target, "/") {
				cur = ""
			}
			if rest != "" {
				target += "/" + rest
			}
			rest = target
		case n.typ != tar.TypeDir && !last:
			return "", nil, fmt.Errorf("resolving %s: %s is not a directory: %w", p, next, ErrConflict)
		default:
			cur = next
		}
	}
	return cur, t.nodes[cur], nil
}

// mkdirAll makes sure every component of the symlink-free path p exists as a directory, creating the
// missing ones as implicit root-owned 0755 directories.
func (t *tree) mkdirAll(p string) error {
	if n := t.nodes[p]; n != nil {
		if n.typ != tar.TypeDir {
			return fmt.Errorf("%s is not a directory: %w", p, ErrConflict)
		}
		return nil
	}
	if err := t.mkdirAll(parentOf(p)); err != nil {
		return err
	}
	t.nodes[p] = &node{typ: tar.TypeDir, mode: 0o755, implicit: true, layer: baseLayer}
	return nil
}

// place resolves the parent directory of p (following symlinks), creates it if missing and returns the
// physical path of p and the node currently there.
func (t *tree) place(p string) (string, *node, error) {
	dir, name := splitPath(p)
	if name == "" || name == "." || name == ".." || strings.IndexByte(p, 0) >= 0 {
		return "", nil, fmt.Errorf("%q: %w", p, ErrInvalidPath)
	}
	rdir, _, err := t.resolve(dir, true)
	if err != nil {
		return "", nil, err
	}
	if err := t.mkdirAll(rdir); err != nil {
		return "", nil, err
	}
	full := join(rdir, name)
	return full, t.nodes[full], nil
}

// dirMeta is the metadata a directory entry carries.
type dirMeta struct {
	mode     int64
	uid, gid int
	mtime    time.Time
}

// addDir ships the directory p in layer. An existing directory keeps its first-seen metadata; a symlink
// to a directory is kept as dpkg does (that is how merged-/usr links survive packages that ship /bin).
func (t *tree) addDir(p string, m dirMeta, layer int, override bool) error {
	full, n, err := t.place(p)
	if err != nil {
		return err
	}
	switch {
	case n == nil:
		n = &node{typ: tar.TypeDir, mode: m.mode, uid: m.uid, gid: m.gid, mtime: m.mtime, layer: baseLayer}
		t.nodes[full] = n
	case n.typ == tar.TypeDir:
		if n.implicit || override {
			n.mode, n.uid, n.gid, n.mtime, n.implicit = m.mode, m.uid, m.gid, m.mtime, false
		}
	case n.typ == tar.TypeSymlink:
		target, tn, err := t.resolve(full, true)
		if err != nil {
			return err
		}
		if tn == nil || tn.typ != tar.TypeDir {
			return fmt.Errorf("directory %s is a symlink to %s, which is not a directory: %w", full, target, ErrConflict)
		}
		if override {
			tn.mode, tn.uid, tn.gid, tn.mtime, tn.implicit = m.mode, m.uid, m.gid, m.mtime, false
			tn.addTouch(layer) // the new metadata must reach a layer even if the directory is the base's
		}
		return nil
	default:
		return fmt.Errorf("directory %s would replace a non-directory: %w", full, ErrConflict)
	}
	n.addTouch(layer)
	return nil
}

func (n *node) addTouch(layer int) {
	if layer == baseLayer {
		return
	}
	for _, l := range n.touch {
		if l == layer {
			return
		}
	}
	n.touch = append(n.touch, layer)
}

// addNode puts the non-directory nn at p, replacing whatever non-directory was there (without following
// a symlink in the last component, like dpkg and tar).
func (t *tree) addNode(p string, nn *node) error {
	if strings.IndexByte(nn.link, 0) >= 0 {
		return fmt.Errorf("symlink %q to %q: %w", p, nn.link, ErrInvalidPath)
	}
	full, n, err := t.place(p)
	if err != nil {
		return err
	}
	if n != nil && n.typ == tar.TypeDir {
		return fmt.Errorf("%s would replace a directory: %w", full, ErrConflict)
	}
	t.nodes[full] = nn
	return nil
}

// hardlinkTarget returns the inode of the regular file p names, resolving parents but not the last
// component, as link(2) does.
func (t *tree) hardlinkTarget(p string) (*inode, error) {
	full, n, err := t.resolve(p, false)
	if err != nil {
		return nil, err
	}
	if n == nil || n.typ != tar.TypeReg {
		return nil, fmt.Errorf("hardlink to %s: %w", full, ErrHardlink)
	}
	if n.ino.noData {
		return nil, fmt.Errorf("hardlink to base image file %s: %w", full, ErrBaseContent)
	}
	return n.ino, nil
}

// exists reports whether p resolves (parents followed, last component not) to an existing node.
func (t *tree) exists(p string) bool {
	_, n, err := t.resolve(p, false)
	return err == nil && n != nil
}
