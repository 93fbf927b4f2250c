package harden

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"runtime"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/ingot-build/ingot/pkg/imageref"
)

// Whiteout names, as the OCI image spec defines them.
const (
	whiteoutPrefix = ".wh."
	opaqueMarker   = ".wh..wh..opq"
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

// entry is one record of a layer's tar stream, after whiteouts are recognised.
type entry struct {
	path string
	node node
	// whiteout hides path in lower layers; opaque hides everything below the directory path.
	whiteout, opaque bool
	data             []byte
}

// cleanPath turns a tar name ("./usr/bin/", "/etc/passwd") into a relative path without dots; the
// root is "".
func cleanPath(name string) string {
	return strings.TrimPrefix(path.Clean("/"+name), "/")
}

// readLayer lists the entries of one layer's tar stream.
func readLayer(ctx context.Context, tr *tar.Reader, layer int) ([]entry, error) {
	var out []entry
	// regular records the regular files seen so far, so that a hardlink takes its target's mode and data.
	regular := map[string]int{}
	// seen indexes the entries (not whiteouts) by path.
	seen := map[string]int{}
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
		p := cleanPath(h.Name)
		if p == "" {
			continue
		}
		dir, base := path.Split(p)
		dir = strings.TrimSuffix(dir, "/")
		switch {
		case base == opaqueMarker:
			out = append(out, entry{path: dir, opaque: true})
			continue
		case strings.HasPrefix(base, whiteoutPrefix):
			out = append(out, entry{path: path.Join(dir, strings.TrimPrefix(base, whiteoutPrefix)), whiteout: true})
			continue
		}
		e := entry{path: p, node: node{typ: h.Typeflag, mode: h.Mode & 0o7777, uid: h.Uid, layer: layer}}
		switch h.Typeflag {
		case tar.TypeReg, tar.TypeRegA: //nolint:staticcheck // old archives still write TypeRegA
			e.node.typ = tar.TypeReg
			if keepContent(p, h.Size) {
				data, err := io.ReadAll(io.LimitReader(tr, maxKept))
				if err != nil {
					return nil, fmt.Errorf("reading %s: %w", p, err)
				}
				e.data = data
			}
		case tar.TypeLink:
			// A hardlink is the same inode as its target, an earlier regular file of this layer.
			e.node.typ = tar.TypeReg
			if i, ok := regular[cleanPath(h.Linkname)]; ok {
				e.node.mode, e.node.uid = out[i].node.mode, out[i].node.uid
				e.data = out[i].data
			}
		case tar.TypeSymlink:
			e.node.link = h.Linkname
		}
		// A path written twice in one layer is what the second write left.
		i, ok := seen[p]
		if ok {
			out[i] = e
		} else {
			i = len(out)
			seen[p] = i
			out = append(out, e)
		}
		if e.node.typ == tar.TypeReg {
			regular[p] = i
		} else {
			delete(regular, p)
		}
	}
}

// readFS reads every layer of img once, in parallel, and flattens them.
func readFS(ctx context.Context, img v1.Image, cfg *v1.ConfigFile, lim imageref.Limits) (*imageFS, error) {
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("listing layers: %w", err)
	}
	diffIDs, err := imageref.DiffIDs(cfg, layers)
	if err != nil {
		return nil, err
	}
	lr := imageref.NewLayerReader(lim)
	f := &imageFS{diffIDs: make([]string, len(layers))}
	entries := make([][]entry, len(layers))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, l := range layers {
		f.diffIDs[i] = diffIDs[i].String()
		g.Go(func() error {
			err := lr.Read(gctx, l, func(tr *tar.Reader) (err error) {
				entries[i], err = readLayer(gctx, tr, i)
				return err
			})
			if err != nil {
				return fmt.Errorf("reading layer %d (%s): %w", i, diffIDs[i], err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	f.merge(entries)
	return f, nil
}

// merge flattens per-layer entries, topmost layer first: an entry is visible unless an upper layer
// already has its path, whites it or a parent out, made a parent opaque, or put a non-directory at a
// parent. Whiteouts of a layer only hide lower layers, so they are applied after its entries.
func (f *imageFS) merge(layers [][]entry) {
	f.nodes = map[string]*node{}
	f.content = map[string][]byte{}
	hidden := map[string]bool{} // whited-out paths
	opaque := map[string]bool{} // directories whose lower contents are hidden
	visible := func(p string) bool {
		if _, ok := f.nodes[p]; ok || hidden[p] {
			return false
		}
		for d := parent(p); d != ""; d = parent(d) {
			if hidden[d] || opaque[d] {
				return false
			}
			if n, ok := f.nodes[d]; ok && !n.isDir() {
				return false
			}
		}
		return true
	}
	for i := len(layers) - 1; i >= 0; i-- {
		for _, e := range layers[i] {
			if e.whiteout || e.opaque || !visible(e.path) {
				continue
			}
			n := e.node
			f.nodes[e.path] = &n
			if e.data != nil {
				f.content[e.path] = e.data
			}
		}
		for _, e := range layers[i] {
			switch {
			case e.whiteout:
				hidden[e.path] = true
			case e.opaque:
				opaque[e.path] = true
			}
		}
	}
	// Layers need not list every parent directory; the runtime creates missing ones.
	for p, n := range f.nodes {
		for d := parent(p); d != ""; d = parent(d) {
			if _, ok := f.nodes[d]; ok {
				break
			}
			f.nodes[d] = &node{typ: tar.TypeDir, mode: 0o755, layer: n.layer}
		}
	}
	f.paths = make([]string, 0, len(f.nodes))
	for p := range f.nodes {
		f.paths = append(f.paths, p)
	}
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
