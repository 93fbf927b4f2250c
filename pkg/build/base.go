package build

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// keepBaseContent reports whether the content of a base image file is kept in memory: only the
// certificates that the ca-certificates bundle is made of. Everything else is needed for names and
// types alone.
func keepBaseContent(p string) bool {
	return strings.HasPrefix(p, "usr/share/ca-certificates/") || strings.HasPrefix(p, "usr/local/share/ca-certificates/")
}

// seedBase fills the tree with the flattened file system of the base image (whiteouts applied), so that
// our entries resolve through its symlinks and see its files. Nothing seeded is emitted except as the
// parent directory of one of our entries.
func (t *tree) seedBase(ctx context.Context, base v1.Image) error {
	rc := mutate.Extract(base)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading base image file system: %w", err)
		}
		p := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		if p == "" {
			continue
		}
		if err := t.seedEntry(p, h, tr); err != nil {
			return fmt.Errorf("base image entry %s: %w", h.Name, err)
		}
	}
}

func (t *tree) seedEntry(p string, h *tar.Header, r io.Reader) error {
	// Extract lists upper layers first, so a child may come before its parent directory: parents are
	// created implicitly and get their metadata when their own entry arrives. Names are physical paths
	// already, so no symlink is followed.
	if err := t.mkdirAll(parentOf(p)); err != nil {
		return err
	}
	mode := h.Mode & 0o7777
	old := t.nodes[p]
	if h.Typeflag == tar.TypeDir {
		if old == nil {
			t.nodes[p] = &node{typ: tar.TypeDir, mode: mode, uid: h.Uid, gid: h.Gid, mtime: h.ModTime, layer: baseLayer}
		} else if old.typ == tar.TypeDir && old.implicit {
			old.mode, old.uid, old.gid, old.mtime, old.implicit = mode, h.Uid, h.Gid, h.ModTime, false
		}
		return nil
	}
	if old != nil && old.typ == tar.TypeDir {
		return fmt.Errorf("non-directory over directory %s: %w", p, ErrConflict)
	}
	n := &node{typ: h.Typeflag, mode: mode, uid: h.Uid, gid: h.Gid, mtime: h.ModTime, link: h.Linkname, devmajor: h.Devmajor, devminor: h.Devminor, layer: baseLayer}
	switch h.Typeflag {
	case tar.TypeSymlink, tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
	case tar.TypeReg:
		n.typ = tar.TypeReg
		n.ino = &inode{mode: mode, uid: h.Uid, gid: h.Gid, mtime: h.ModTime, noData: true}
		if keepBaseContent(p) {
			data, err := io.ReadAll(r)
			if err != nil {
				return err
			}
			n.ino.data, n.ino.noData = data, false
		}
	case tar.TypeLink:
		target := t.nodes[strings.TrimPrefix(path.Clean("/"+h.Linkname), "/")]
		n.typ = tar.TypeReg
		if target != nil && target.typ == tar.TypeReg {
			n.ino = target.ino
		} else {
			n.ino = &inode{mode: mode, uid: h.Uid, gid: h.Gid, mtime: h.ModTime, noData: true}
		}
	default:
		return fmt.Errorf("unsupported tar type %q", h.Typeflag)
	}
	t.nodes[p] = n
	return nil
}
