package harden

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	"github.com/ingot-build/ingot/pkg/layers"
)

// maxKept is the largest account file whose content is kept; real ones are a few kilobytes.
const maxKept = 1 << 20

// node is one entry of the image's flattened file system: only what the rules look at, never the
// content of ordinary files.
type node struct {
	// typ is tar.TypeReg (hardlinks included), tar.TypeDir, tar.TypeSymlink, or another tar type.
	typ byte
	// mode holds the permission bits with setuid, setgid and sticky, as tar headers carry them.
	mode int64
	// uid owns the entry; it says whose privileges a setuid file grants.
	uid int
	// link is a symlink's target, verbatim.
	link string
	// layer is the index of the layer that wrote the entry.
	layer int
}

func (n *node) isDir() bool { return n.typ == tar.TypeDir }

// imageFS is the final file system of an image, as a runtime would see it: later layers override
// earlier ones and whiteouts hide what is below them.
type imageFS struct {
	// nodes are keyed by clean relative path ("etc/passwd"); the root has no entry.
	nodes map[string]*node
	// paths are the keys of nodes, sorted, so findings come out in a stable order.
	paths []string
	// diffIDs name the layers, by index.
	diffIDs []string
	// content holds the data of the account files (passwd, shadow, group) that made it to the final
	// file system, by path.
	content map[string][]byte
}

// keepContent reports whether a file's data is read rather than skipped: the account databases only.
func keepContent(p string, size int64) bool {
	if size > maxKept {
		return false
	}
	switch path.Base(p) {
	case "passwd", "shadow", "group":
		return true
	}
	return false
}

// entry is one record of a layer's tar stream and, for an account file, its content.
type entry struct {
	hdr  *tar.Header
	data []byte
}

// readLayer lists the entries of one layer's tar stream, for merge.
func readLayer(ctx context.Context, tr *tar.Reader, _ int) ([]entry, error) {
	var out []entry
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		e := entry{hdr: h}
		if p := cleanPath(h.Name); h.Typeflag == tar.TypeReg && keepContent(p, h.Size) {
			if e.data, err = io.ReadAll(io.LimitReader(tr, maxKept)); err != nil {
				return nil, fmt.Errorf("reading %s: %w", p, err)
			}
		}
		out = append(out, e)
	}
}

// merge flattens the entries of each layer, lowest first, through the layer walker's merging.
func (f *imageFS) merge(ls [][]entry) {
	fs := layers.NewFS()
	for i, es := range ls {
		for j, e := range es {
			fs.Apply(i, j, e.hdr, e.data)
		}
	}
	f.from(fs)
}

// from takes the merged file system the walker built: every node's metadata, and the account
// files' contents.
func (f *imageFS) from(fs *layers.FS) {
	f.nodes = make(map[string]*node, fs.Len())
	f.content = map[string][]byte{}
	f.paths = make([]string, 0, fs.Len())
	fs.Walk(func(p string, n *layers.Node) {
		if n.Implicit && hollow(fs, p) {
			// A directory no layer listed, made for files a later layer deleted: the rules judge
			// what the layers wrote, and an empty directory implied by nothing left is not that.
			return
		}
		f.nodes[p] = &node{typ: n.Type, mode: n.Mode, uid: n.UID, link: n.Linkname, layer: n.Layer}
		f.paths = append(f.paths, p)
		if n.Data != nil && n.Type == tar.TypeReg {
			f.content[p] = n.Data
		}
	})
	sort.Strings(f.paths)
}

// parent returns the directory of a relative path; the parent of a top-level name is "".
func parent(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return ""
	}
	return p[:i]
}

// maxHops is how many symlinks resolve follows before giving up, as Linux does (ELOOP).
const maxHops = 40

// resolve follows symlinks through p as the kernel would inside the image's root (".." at the root
// stays there) and returns the physical path and its node; the node is nil when p does not exist,
// loops, or runs through a non-directory.
func (f *imageFS) resolve(p string) (string, *node) {
	parts := strings.Split(p, "/")
	cur := ""
	hops := 0
	for i := 0; i < len(parts); i++ {
		c := parts[i]
		switch c {
		case "", ".":
			continue
		case "..":
			cur = parent(cur)
			continue
		}
		if cur != "" {
			if n := f.nodes[cur]; n == nil || !n.isDir() {
				return "", nil
			}
		}
		next := c
		if cur != "" {
			next = cur + "/" + c
		}
		n := f.nodes[next]
		if n == nil {
			return "", nil
		}
		if n.typ == tar.TypeSymlink {
			hops++
			if hops > maxHops {
				return "", nil
			}
			if strings.HasPrefix(n.link, "/") {
				cur = ""
			}
			parts = append(strings.Split(n.link, "/"), parts[i+1:]...)
			i = -1
			continue
		}
		cur = next
	}
	if cur == "" {
		return "", &node{typ: tar.TypeDir, mode: 0o755}
	}
	return cur, f.nodes[cur]
}

// file returns the content of the account file at p (resolving symlinks) and the physical path it
// was read from; ok is false when there is no such regular file.
func (f *imageFS) file(p string) (data []byte, physical string, ok bool) {
	physical, n := f.resolve(p)
	if n == nil || n.typ != tar.TypeReg {
		return nil, "", false
	}
	return f.content[physical], physical, true
}

// layer names the layer a node came from.
func (f *imageFS) layer(n *node) string {
	if n == nil || n.layer < 0 || n.layer >= len(f.diffIDs) {
		return ""
	}
	return f.diffIDs[n.layer]
}

// hollow reports whether the directory at p holds nothing but implicit, empty directories.
func hollow(fs *layers.FS, p string) bool {
	for _, c := range fs.Children(p) {
		cp := p + "/" + c
		if n := fs.Lookup(cp); !n.Implicit || !hollow(fs, cp) {
			return false
		}
	}
	return true
}

// cleanPath turns a tar name ("./usr/bin/", "/etc/passwd") into a relative path without dots; the
// root is "".
func cleanPath(name string) string {
	return strings.TrimPrefix(path.Clean("/"+name), "/")
}
