package build

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sort"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ingot-build/ingot/pkg/deb"
)

// unpacked is one package read into memory, ready to merge.
type unpacked struct {
	name, version, source, sha256 string
	control                       []byte // the control file, verbatim
	md5sums                       []byte // nil when the package has none
	entries                       []entry
	size                          int64     // bytes of regular files: the weight of its source group
	newest                        time.Time // newest mtime of its data
}

type entry struct {
	deb.Entry
	data []byte
}

// unpackAll reads every package's control and data in parallel, bounded by GOMAXPROCS; the merge that
// follows is sequential and in order.
func unpackAll(ctx context.Context, pkgs []Package, arch string) ([]*unpacked, error) {
	out := make([]*unpacked, len(pkgs))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	// Largest first: the biggest package (libc6, say) is the critical path, so it should not wait for
	// a free worker behind small ones. Results still land at their index, and merge in order.
	order := make([]int, len(pkgs))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return len(pkgs[order[a]].Deb) > len(pkgs[order[b]].Deb) })
	for _, i := range order {
		g.Go(func() error {
			u, err := unpack(ctx, pkgs[i], arch)
			if err != nil {
				name := pkgs[i].Name
				if name == "" {
					name = fmt.Sprintf("#%d", i)
				}
				return fmt.Errorf("unpacking package %s: %w", name, err)
			}
			out[i] = u
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	seen := make(map[string]bool, len(out))
	for _, u := range out {
		if seen[u.name] {
			return nil, fmt.Errorf("%w: package %s given twice", ErrInvalidOptions, u.name)
		}
		seen[u.name] = true
	}
	return out, nil
}

func unpack(ctx context.Context, p Package, arch string) (*unpacked, error) {
	a, err := deb.Open(bytes.NewReader(p.Deb), int64(len(p.Deb)), deb.Limits{})
	if err != nil {
		return nil, err
	}
	ctl, err := a.Control()
	if err != nil {
		return nil, err
	}
	u := &unpacked{name: ctl.Get("Package"), version: ctl.Get("Version"), sha256: p.SHA256}
	if u.name == "" || strings.ContainsAny(u.name, "/\n") || u.name == "." || u.name == ".." {
		return nil, fmt.Errorf("%w: control file has no usable Package field (%q)", ErrInvalidPackage, u.name)
	}
	if p.Name != "" && p.Name != u.name {
		return nil, fmt.Errorf("%w: control file names package %s, expected %s", ErrInvalidPackage, u.name, p.Name)
	}
	if p.Version != "" && p.Version != u.version {
		return nil, fmt.Errorf("%w: control file has version %s, expected %s", ErrInvalidPackage, u.version, p.Version)
	}
	if a := ctl.Get("Architecture"); a != "all" && a != arch {
		return nil, fmt.Errorf("%w: architecture %q cannot go into an image for %s", ErrInvalidPackage, a, arch)
	}
	u.source = p.Source
	if u.source == "" {
		u.source, _, _ = strings.Cut(ctl.Get("Source"), " ")
	}
	if u.source == "" {
		u.source = u.name
	}
	raw, ok, err := a.ControlFile("control")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: no control file", ErrInvalidPackage)
	}
	u.control = withNewline(raw)
	sums, ok, err := a.ControlFile("md5sums")
	if err != nil {
		return nil, err
	}
	if ok {
		u.md5sums = withNewline(sums)
	}

	dr, err := a.Data()
	if err != nil {
		return nil, err
	}
	defer dr.Close()
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		e, err := dr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if e.Path == "" || e.Path == "." {
			continue // the archive's root directory
		}
		en := entry{Entry: *e}
		switch e.Type {
		case tar.TypeReg:
			data, err := readBody(dr, e.Size)
			if err != nil {
				return nil, fmt.Errorf("reading %s: %w", e.Path, err)
			}
			en.data = data
			u.size += e.Size
		case tar.TypeDir, tar.TypeSymlink, tar.TypeLink, tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		default:
			return nil, fmt.Errorf("%w: %s has tar type %q, which an image cannot carry", ErrInvalidPackage, e.Path, e.Type)
		}
		if e.ModTime.After(u.newest) {
			u.newest = e.ModTime
		}
		u.entries = append(u.entries, en)
	}
	return u, nil
}

// trustedAlloc is the largest body allocated up front from the size its tar header claims; larger
// bodies grow as their bytes actually arrive, so a lying header cannot reserve gigabytes.
const trustedAlloc = 64 << 20

func readBody(r io.Reader, size int64) ([]byte, error) {
	if size <= trustedAlloc {
		b := make([]byte, size)
		_, err := io.ReadFull(r, b)
		return b, err
	}
	b, err := io.ReadAll(io.LimitReader(r, size))
	if err == nil && int64(len(b)) != size {
		err = io.ErrUnexpectedEOF
	}
	return b, err
}

func withNewline(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] != '\n' {
		return append(b[:len(b):len(b)], '\n')
	}
	return b
}

// merge lays the package's entries into the tree in archive order.
func (t *tree) merge(u *unpacked, layer int) error {
	for i := range u.entries {
		e := &u.entries[i]
		if err := t.mergeEntry(e, layer); err != nil {
			return fmt.Errorf("package %s: entry %s: %w", u.name, e.Path, err)
		}
	}
	return nil
}

func (t *tree) mergeEntry(e *entry, layer int) error {
	mode := e.Mode & 0o7777
	switch e.Type {
	case tar.TypeDir:
		return t.addDir(e.Path, dirMeta{mode: mode, uid: e.UID, gid: e.GID, mtime: e.ModTime}, layer, false)
	case tar.TypeReg:
		ino := &inode{data: e.data, mode: mode, uid: e.UID, gid: e.GID, mtime: e.ModTime}
		return t.addNode(e.Path, &node{typ: tar.TypeReg, ino: ino, layer: layer})
	case tar.TypeSymlink:
		return t.addNode(e.Path, &node{typ: tar.TypeSymlink, mode: 0o777, uid: e.UID, gid: e.GID, mtime: e.ModTime, link: e.Linkname, layer: layer})
	case tar.TypeLink:
		ino, err := t.hardlinkTarget(e.Linkname)
		if err != nil {
			return err
		}
		return t.addNode(e.Path, &node{typ: tar.TypeReg, ino: ino, layer: layer})
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		return t.addNode(e.Path, &node{typ: e.Type, mode: mode, uid: e.UID, gid: e.GID, mtime: e.ModTime, devmajor: e.Devmajor, devminor: e.Devminor, layer: layer})
	}
	return fmt.Errorf("%w: tar type %q", ErrInvalidPackage, e.Type)
}
