package layers

import (
	"archive/tar"
	"sort"
	"strings"
)

// Node is one name of the merged file system: what the last entry written at its path left, once
// every layer is applied in order.
type Node struct {
	// Type is the tar type: tar.TypeReg (hard links included), tar.TypeDir, tar.TypeSymlink, or
	// another tar type (devices, FIFOs).
	Type byte
	// Mode is the header's mode (permission bits with setuid, setgid and sticky); a hard link has its
	// target's, as it is the same inode.
	Mode int64
	// UID and GID own the entry.
	UID, GID int
	// Size is a regular file's size.
	Size int64
	// Linkname is a symlink's target, verbatim.
	Linkname string
	// Layer and Index locate the entry that wrote the node: its layer and its position in that layer's
	// stream. A directory no entry named (layers need not list parents) has Implicit set, the layer
	// of the entry that needed it and Index -1.
	Layer, Index int
	Implicit     bool
	// Data is the file's content when a visitor asked the walker to keep it (Interest.Keep); a hard
	// link shares its target's.
	Data []byte

	children map[string]*Node
	watched  bool // a visitor was given the entry: its fate is recorded
}

// IsDir reports whether the node is a directory.
func (n *Node) IsDir() bool { return n.Type == tar.TypeDir }

// Fate is what became of an entry in the layers above it.
type Fate struct {
	// Removed is set when the entry is not in the merged file system.
	Removed bool
	// By is the layer that removed it; Replaced says it wrote something at the path (or at a
	// directory above it) rather than deleting it with a whiteout or an opaque directory.
	By       int
	Replaced bool
}

type entryID struct{ layer, index int }

// FS is the merged file system of an image, and the fate of every entry given to a visitor.
type FS struct {
	root  *Node
	fates map[entryID]Fate
	count int
}

// NewFS is an empty file system, for Apply.
func NewFS() *FS { return newFS() }

// Apply adds the entry h, at index in the stream of layer, to the file system as Walk does, data
// being a regular file's content to keep in its node (nil keeps none). Layers must be applied in
// order. It is Walk's merging alone, for entries already read.
func (f *FS) Apply(layer, index int, h *tar.Header, data []byte) *Node {
	e := entryOf(layer, index, h)
	n := f.apply(layer, index, &e)
	if n != nil && data != nil && n.Type == tar.TypeReg && h.Typeflag != tar.TypeLink {
		n.Data = data
	}
	return n
}

func newFS() *FS {
	return &FS{root: &Node{Type: tar.TypeDir, Mode: 0o755, Layer: -1, Index: -1, Implicit: true, children: map[string]*Node{}}, fates: map[entryID]Fate{}}
}

// Lookup returns the node at the clean relative path p ("etc/passwd"; "" is the root), without
// following symlinks, or nil.
func (f *FS) Lookup(p string) *Node {
	n := f.root
	if p == "" {
		return n
	}
	for {
		name, rest, more := strings.Cut(p, "/")
		if n = n.children[name]; n == nil {
			return nil
		}
		if !more {
			return n
		}
		p = rest
	}
}

// Children returns the names in the directory at p, sorted; nil when p is not a directory.
func (f *FS) Children(p string) []string {
	n := f.Lookup(p)
	if n == nil || !n.IsDir() {
		return nil
	}
	out := make([]string, 0, len(n.children))
	for name := range n.children {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// Walk calls fn for every node but the root, in path order (a directory before what is in it).
func (f *FS) Walk(fn func(p string, n *Node)) {
	var walk func(prefix string, n *Node)
	walk = func(prefix string, n *Node) {
		names := make([]string, 0, len(n.children))
		for name := range n.children {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			c := n.children[name]
			fn(prefix+name, c)
			if c.IsDir() {
				walk(prefix+name+"/", c)
			}
		}
	}
	walk("", f.root)
}

// Len is the number of nodes, the root left out.
func (f *FS) Len() int { return f.count }

// Fate says what became of the entry at index of layer; only entries given to a visitor are
// tracked, and an entry that is not tracked reports a zero Fate.
func (f *FS) Fate(layer, index int) Fate { return f.fates[entryID{layer, index}] }

// remove records the removal of n and everything below it written before layer.
func (f *FS) remove(n *Node, layer int, replaced bool) {
	f.count--
	if n.watched {
		f.fates[entryID{n.Layer, n.Index}] = Fate{Removed: true, By: layer, Replaced: replaced}
	}
	for _, c := range n.children {
		f.remove(c, layer, replaced)
	}
}

// parent finds or makes the directory that holds p, making missing directories (implicit, 0755) as
// runtimes do; a non-directory in the way is replaced by one.
func (f *FS) parent(elems []string, layer int) *Node {
	n := f.root
	for _, e := range elems {
		c := n.children[e]
		if c != nil && !c.IsDir() {
			f.remove(c, layer, true)
			c = nil
		}
		if c == nil {
			c = &Node{Type: tar.TypeDir, Mode: 0o755, Layer: layer, Index: -1, Implicit: true, children: map[string]*Node{}}
			n.children[e] = c
			f.count++
		}
		n = c
	}
	return n
}

// lookupDir returns the directory at elems, without making it; nil when there is none.
func (f *FS) lookupDir(elems []string) *Node {
	n := f.root
	for _, e := range elems {
		if n = n.children[e]; n == nil || !n.IsDir() {
			return nil
		}
	}
	return n
}

// hide removes what layers below layer put in dir: its children written by them, and, in the
// directories this layer wrote, theirs.
func (f *FS) hide(dir *Node, layer int) {
	for name, c := range dir.children {
		switch {
		case c.Layer < layer:
			delete(dir.children, name)
			f.remove(c, layer, false)
		case c.IsDir():
			f.hide(c, layer)
		}
	}
}

// apply adds one entry of layer to the file system. path is clean and relative; whiteouts have been
// recognised. It returns the node written, nil for a whiteout or an entry that writes no file.
func (f *FS) apply(layer, index int, e *Entry) *Node {
	h := e.Header
	if e.Opaque && e.Path == "" {
		f.hide(f.root, layer) // the root made opaque: every lower layer is hidden
		return nil
	}
	if e.Path == "" {
		return nil // the root: nothing a visitor looks at
	}
	elems := strings.Split(e.Path, "/")
	base := elems[len(elems)-1]
	if e.Opaque || e.Whiteout {
		// Path is the directory, or the name, hidden.
		var dir *Node
		if e.Opaque {
			dir = f.lookupDir(elems)
		} else {
			dir = f.lookupDir(elems[:len(elems)-1])
		}
		if dir == nil {
			return nil // nothing below to hide
		}
		if e.Opaque {
			f.hide(dir, layer)
			return nil
		}
		old := dir.children[base]
		switch {
		case old == nil:
		case old.Layer < layer:
			delete(dir.children, base)
			f.remove(old, layer, false)
		case old.IsDir():
			f.hide(old, layer) // this layer wrote the name again: only what is below it goes
		}
		return nil
	}
	switch h.Typeflag {
	case tar.TypeReg, tar.TypeLink, tar.TypeSymlink, tar.TypeDir, tar.TypeChar, tar.TypeBlock, tar.TypeFifo, tar.TypeGNUSparse:
	default:
		return nil // pax global headers, GNU volume headers: no file
	}
	parent := f.parent(elems[:len(elems)-1], layer)
	old := parent.children[base]
	n := &Node{Type: h.Typeflag, Mode: h.Mode & 0o7777, UID: h.Uid, GID: h.Gid, Layer: layer, Index: index}
	switch h.Typeflag {
	case tar.TypeGNUSparse:
		n.Type, n.Size = tar.TypeReg, h.Size
	case tar.TypeReg:
		n.Size = h.Size
	case tar.TypeSymlink:
		n.Linkname = h.Linkname
	case tar.TypeLink:
		// A hard link is another name of an inode already in the file system: it has its target's
		// mode, owner and content, wherever the target came from (a lower layer, or earlier in this
		// one), even if the target is deleted afterwards.
		n.Type = tar.TypeReg
		if t := f.Lookup(cleanLink(h.Linkname)); t != nil && !t.IsDir() && t != old {
			n.Type, n.Mode, n.UID, n.GID, n.Size, n.Linkname, n.Data = t.Type, t.Mode, t.UID, t.GID, t.Size, t.Linkname, t.Data
		} else if t == old && t != nil {
			return nil // a link to itself changes nothing
		} else {
			e.Dangling = true
		}
	}
	if old != nil && old.IsDir() && n.IsDir() {
		// A directory written again keeps what is in it; the entry's metadata is the new one.
		if old.watched && !old.Implicit {
			f.fates[entryID{old.Layer, old.Index}] = Fate{Removed: true, By: layer, Replaced: true}
		}
		old.Type, old.Mode, old.UID, old.GID, old.Layer, old.Index, old.Implicit = n.Type, n.Mode, n.UID, n.GID, layer, index, false
		old.watched = false
		return old
	}
	if old != nil {
		f.remove(old, layer, true)
	}
	if n.IsDir() {
		n.children = map[string]*Node{}
	}
	parent.children[base] = n
	f.count++
	return n
}

// cleanLink is a hard link's target as a clean relative path.
func cleanLink(name string) string {
	p := cleanPath(name)
	return p
}
