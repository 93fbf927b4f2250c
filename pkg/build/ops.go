package build

import (
	"archive/tar"
	"fmt"
	"io/fs"
	"strings"
)

// fileMode converts permission bits with setuid, setgid and sticky from fs.FileMode to tar's form. The
// special bits may be given either as fs.ModeSetuid, fs.ModeSetgid and fs.ModeSticky or in their octal
// positions (fs.FileMode(0o4755)), which fs.FileMode leaves unused, so a spec's octal mode converts
// directly.
func fileMode(m fs.FileMode) int64 {
	mode := int64(m & 0o7777)
	if m&fs.ModeSetuid != 0 {
		mode |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		mode |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		mode |= 0o1000
	}
	return mode
}

// applyFiles lays the caller's files over the tree; they replace files, symlinks and directory
// metadata, but never a directory with a non-directory.
func (t *tree) applyFiles(files []File, layer int) error {
	for _, f := range files {
		p := cleanAbs(f.Path)
		var err error
		switch {
		case f.Mode.IsDir():
			err = t.addDir(p, dirMeta{mode: fileMode(f.Mode), uid: f.UID, gid: f.GID}, layer, true)
		case f.Mode&fs.ModeSymlink != 0:
			err = t.addNode(p, &node{typ: tar.TypeSymlink, mode: 0o777, uid: f.UID, gid: f.GID, link: f.Linkname, layer: layer})
		default:
			ino := &inode{data: f.Data, mode: fileMode(f.Mode), uid: f.UID, gid: f.GID}
			err = t.addNode(p, &node{typ: tar.TypeReg, ino: ino, layer: layer})
		}
		if err != nil {
			return fmt.Errorf("adding file %s: %w", f.Path, err)
		}
	}
	return nil
}

// applyPaths runs the path operations in order.
func (t *tree) applyPaths(ops []PathOp, layer int) error {
	for _, op := range ops {
		p := cleanAbs(op.Path)
		var err error
		switch op.Type {
		case PathDirectory:
			mode := fileMode(op.Mode)
			if mode == 0 {
				mode = 0o755
			}
			err = t.addDir(p, dirMeta{mode: mode, uid: op.UID, gid: op.GID}, layer, true)
		case PathSymlink:
			err = t.addNode(p, &node{typ: tar.TypeSymlink, mode: 0o777, link: op.Target, uid: op.UID, gid: op.GID, layer: layer})
		case PathPermissions:
			err = t.chmod(p, op, layer)
		default:
			err = fmt.Errorf("%w: unknown path type %q", ErrInvalidOptions, op.Type)
		}
		if err != nil {
			return fmt.Errorf("path %s (%s): %w", op.Path, op.Type, err)
		}
	}
	return nil
}

// chmod changes mode (unless zero) and owner of p, following symlinks like chmod(1) and chown(1), and
// of everything below it when op.Recursive is set. Changed entries move to layer.
func (t *tree) chmod(p string, op PathOp, layer int) error {
	full, n, err := t.resolve(p, true)
	if err != nil {
		return err
	}
	if n == nil {
		return fmt.Errorf("%s: %w", full, ErrNotFound)
	}
	mode := fileMode(op.Mode)
	if err := t.chmodNode(full, n, mode, op.UID, op.GID, layer); err != nil {
		return err
	}
	if !op.Recursive || n.typ != tar.TypeDir {
		return nil
	}
	prefix := full + "/"
	if full == "" {
		prefix = ""
	}
	for q, c := range t.nodes {
		if q == "" || !strings.HasPrefix(q, prefix) || c.typ == tar.TypeSymlink {
			continue // chown -R and chmod -R leave symlinks alone
		}
		if err := t.chmodNode(q, c, mode, op.UID, op.GID, layer); err != nil {
			return err
		}
	}
	return nil
}

func (t *tree) chmodNode(p string, n *node, mode int64, uid, gid, layer int) error {
	switch n.typ {
	case tar.TypeDir:
		if mode != 0 {
			n.mode = mode
		}
		n.uid, n.gid, n.implicit = uid, gid, false
		n.addTouch(layer)
	case tar.TypeReg:
		if n.ino.noData {
			return fmt.Errorf("changing permissions of %s: %w", p, ErrBaseContent)
		}
		if mode != 0 {
			n.ino.mode = mode
		}
		n.ino.uid, n.ino.gid = uid, gid
		n.layer = layer
	default:
		if mode != 0 && n.typ != tar.TypeSymlink {
			n.mode = mode
		}
		n.uid, n.gid = uid, gid
		n.layer = layer
	}
	return nil
}
