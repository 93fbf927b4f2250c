package imagetest

import (
	"fmt"
	"io"
	"os"
)

// The disk side of tree: every path given is symlink-free (resolved in the tree), and os.Root refuses
// anything that would still leave the root. Device nodes are not created: runc mounts its own /dev.

func (t *tree) diskCreate(p string, n *node, r io.Reader) error {
	if t.root == nil {
		return nil
	}
	name := rel(p)
	switch {
	case n.isDir():
		if err := t.root.Mkdir(name, 0o700); err != nil {
			return fmt.Errorf("unpacking: %w", err)
		}
	case n.mode.IsRegular():
		f, err := t.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fmt.Errorf("unpacking: %w", err)
		}
		if r != nil {
			_, err = io.CopyN(f, r, n.size)
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("unpacking %s: %w", p, err)
		}
	case n.mode&os.ModeSymlink != 0:
		if err := t.root.Symlink(n.target, name); err != nil {
			return fmt.Errorf("unpacking: %w", err)
		}
		if err := t.root.Lchown(name, n.uid, n.gid); err != nil {
			return fmt.Errorf("unpacking: %w", err)
		}
		return nil
	default:
		return nil
	}
	return t.diskMeta(p, n)
}

// diskMeta sets owner, then mode (chown clears setuid bits).
func (t *tree) diskMeta(p string, n *node) error {
	if t.root == nil {
		return nil
	}
	name := rel(p)
	if err := t.root.Lchown(name, n.uid, n.gid); err != nil {
		return fmt.Errorf("unpacking: %w", err)
	}
	if err := t.root.Chmod(name, n.mode&(os.ModePerm|os.ModeSetuid|os.ModeSetgid|os.ModeSticky)); err != nil {
		return fmt.Errorf("unpacking: %w", err)
	}
	return nil
}

func (t *tree) diskLink(target, p string) error {
	if t.root == nil {
		return nil
	}
	if err := t.root.Link(rel(target), rel(p)); err != nil {
		return fmt.Errorf("unpacking: %w", err)
	}
	return nil
}

func (t *tree) diskRemove(p string) error {
	if t.root == nil {
		return nil
	}
	if err := t.root.RemoveAll(rel(p)); err != nil {
		return fmt.Errorf("unpacking: %w", err)
	}
	return nil
}
