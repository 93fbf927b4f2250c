package sbom

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"runtime"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/fault"
	"github.com/ingot-build/ingot/pkg/imageref"
)

// Sentinel errors.
var (
	// ErrEvidence is wrapped by errors about a file that should record packages but cannot be read as
	// such; Inventory leaves the file out and reports it through Options.Skipped.
	ErrEvidence = errors.New("sbom: malformed package record")
	// ErrUnsupportedType is wrapped when a package URL's type is none of deb, apk, golang, npm, pypi.
	ErrUnsupportedType = errors.New("sbom: unsupported package type")
	// ErrDocument is wrapped by Decode errors: the input is not an SPDX or CycloneDX JSON document.
	ErrDocument = fault.New(fault.Invalid, "sbom: not an SPDX or CycloneDX JSON document")
	// ErrInvalid is wrapped by the Validate functions' errors.
	ErrInvalid = errors.New("sbom: invalid document")
)

// Options tune Inventory.
type Options struct {
	// Ref is the name the user gave the image, recorded in Inventory.Image.Ref.
	Ref string
	// Skipped, when set, is told about each surviving file that should record packages but is
	// malformed (a truncated package.json, a corrupt status file). Such a file is left out and the
	// rest of the image is still read.
	Skipped func(path string, err error)
	// Limits bound how much the image's layers may decompress to.
	Limits imageref.Limits
}

// maxEvidence caps the size of a package database file read into memory. A dpkg status file of a
// full distribution is a few MiB.
const maxEvidence = 64 << 20

// reader reads one kind of file that records installed packages.
type reader interface {
	// wants reports whether the regular file at p (clean, relative to the root) is its evidence.
	wants(p string) bool
	// parse reads the file. Packages come back without PURL, Ecosystem, Layer and Locations, which
	// Inventory fills once it knows the distro and which files survived the later layers.
	parse(p string, r io.Reader) ([]evidence.Package, error)
}

func readers() []reader {
	return []reader{debianReader{}, alpineReader{}, npmReader{}, pythonReader{}}
}

// Inventory reads the inventory of an image: walks every layer once, in order, applying whiteouts, and
// runs the readers on the files that survive. Each package records the layer (diff ID) that last
// wrote its evidence file; packages whose evidence was deleted in a later layer are not reported.
//
// Layers are read concurrently, each as one stream; only files whose names say they record packages
// are read, plus ELF files (for Go build info), and everything else is skipped in the stream.
func Inventory(ctx context.Context, img v1.Image, opt Options) (*evidence.Inventory, error) {
	inv := &evidence.Inventory{Image: evidence.Image{Ref: opt.Ref}, Packages: []evidence.Package{}}
	d, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("reading image digest: %w", err)
	}
	inv.Image.Digest = d.String()
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading image config: %w", err)
	}
	inv.Image.OS, inv.Image.Arch = cf.OS, cf.Architecture
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("listing layers: %w", err)
	}
	diffIDs, err := imageref.DiffIDs(cf, layers)
	if err != nil {
		return nil, err
	}
	lr := imageref.NewLayerReader(opt.Limits)
	scans := make([]*layerScan, len(layers))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, l := range layers {
		g.Go(func() error {
			s, err := scanLayer(gctx, lr, l, diffIDs[i], readers())
			if err != nil {
				return fmt.Errorf("reading layer %d: %w", i, err)
			}
			scans[i] = s
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	lics, err := loadLicenseList()
	if err != nil {
		return nil, err
	}
	assemble(inv, scans, lics, opt)
	return inv, nil
}

// Kinds of record a layer scan keeps.
const (
	recPackages  = iota // a package database or manifest
	recOSRelease        // os-release content, or a symlink to it
	recMD5Sums          // a Debian package's md5sums: listed as a location, never read
	recCopyright        // a Debian package's copyright file: its licenses
)

// record is one file of interest in one layer.
type record struct {
	kind int
	path string
	pkgs []evidence.Package
	err  error // why the file could not be parsed; reported only if the file survives
	// os-release: its content, or its symlink target.
	data []byte
	link string
	// md5sums and copyright: the owning package.
	owner, ownerArch string
	// copyright: the license names it declares.
	licenses []string
}

// layerScan is what Inventory keeps of one layer: the files of interest, and enough of the rest to
// know which files of lower layers it hides.
type layerScan struct {
	diffID string
	// entries holds every path the layer writes, true for directories.
	entries   map[string]bool
	whiteouts map[string]struct{}
	opaque    map[string]struct{} // directories whose lower content is hidden; "" is the root
	records   []record
}

// cleanPath makes a tar entry name relative and clean; names that leave the root are not ours.
func cleanPath(name string) (string, bool) {
	p := path.Clean("/" + name)
	if p == "/" {
		return "", false
	}
	return p[1:], true
}

func scanLayer(ctx context.Context, lr *imageref.LayerReader, l v1.Layer, diffID v1.Hash, rs []reader) (*layerScan, error) {
	s := &layerScan{
		diffID:    diffID.String(),
		entries:   make(map[string]bool, 1024),
		whiteouts: map[string]struct{}{},
		opaque:    map[string]struct{}{},
	}
	if err := lr.Read(ctx, l, func(tr *tar.Reader) error { return s.read(ctx, tr, diffID, rs) }); err != nil {
		return nil, fmt.Errorf("reading %s: %w", diffID, err)
	}
	return s, nil
}

// read records the files of interest of one layer's tar stream.
func (s *layerScan) read(ctx context.Context, tr *tar.Reader, diffID v1.Hash, rs []reader) error {
	var (
		head [4]byte
		buf  []byte // file contents, reused from one file to the next
	)
	for n := 0; ; n++ {
		if n%512 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		p, ok := cleanPath(h.Name)
		if !ok {
			continue
		}
		dir, base := path.Split(p)
		if wh, ok := strings.CutPrefix(base, ".wh."); ok {
			if wh == ".wh..opq" {
				s.opaque[strings.TrimSuffix(dir, "/")] = struct{}{}
			} else if wh != "" {
				s.whiteouts[dir+wh] = struct{}{}
			}
			continue
		}
		s.entries[p] = h.Typeflag == tar.TypeDir
		if h.Typeflag == tar.TypeSymlink && (p == etcOSRelease || p == libOSRelease) {
			s.records = append(s.records, record{kind: recOSRelease, path: p, link: h.Linkname})
			continue
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		if p == etcOSRelease || p == libOSRelease {
			if buf, err = readFile(tr, min(h.Size, 64<<10), buf[:0]); err != nil {
				return fmt.Errorf("reading %s in %s: %w", p, diffID, err)
			}
			s.records = append(s.records, record{kind: recOSRelease, path: p, data: bytes.Clone(buf)})
			continue
		}
		if name, arch, ok := md5sumsOwner(p); ok {
			s.records = append(s.records, record{kind: recMD5Sums, path: p, owner: name, ownerArch: arch})
			continue
		}
		if owner, ok := copyrightOwner(p); ok {
			if buf, err = readFile(tr, min(h.Size, maxCopyright), buf[:0]); err != nil {
				return fmt.Errorf("reading %s in %s: %w", p, diffID, err)
			}
			s.records = append(s.records, record{kind: recCopyright, path: p, owner: owner, licenses: debianLicenseNames(buf)})
			continue
		}
		if c := wanted(p, rs); c != nil {
			rec := record{kind: recPackages, path: p}
			if h.Size > maxEvidence {
				rec.err = fmt.Errorf("%w: %d bytes is more than the %d read", ErrEvidence, h.Size, maxEvidence)
			} else {
				if buf, err = readFile(tr, h.Size, buf[:0]); err != nil {
					return fmt.Errorf("reading %s in %s: %w", p, diffID, err)
				}
				// Parsers copy what they keep, so buf can be reused.
				rec.pkgs, rec.err = c.parse(p, bytes.NewReader(buf))
			}
			s.records = append(s.records, rec)
			continue
		}
		if h.Size < 64 || h.Size > maxGoBinary {
			continue
		}
		if _, err := io.ReadFull(tr, head[:]); err != nil {
			return fmt.Errorf("reading %s in %s: %w", p, diffID, err)
		}
		if !isELF(head[:]) {
			continue
		}
		buf = append(buf[:0], head[:]...)
		if buf, err = readFile(tr, h.Size-int64(len(head)), buf); err != nil {
			return fmt.Errorf("reading %s in %s: %w", p, diffID, err)
		}
		if pkgs := parseGoBinary(buf); len(pkgs) > 0 {
			s.records = append(s.records, record{kind: recPackages, path: p, pkgs: pkgs})
		}
	}
}

// wanted is the first reader that reads the file at p, or nil.
func wanted(p string, rs []reader) reader {
	for _, c := range rs {
		if c.wants(p) {
			return c
		}
	}
	return nil
}

// readFile appends the next size bytes of r to buf. The size comes from a tar header anyone can
// write, so memory grows with the data that actually arrives, in steps, rather than all up front.
func readFile(r io.Reader, size int64, buf []byte) ([]byte, error) {
	const step = 8 << 20
	want := len(buf) + int(size)
	for len(buf) < want {
		n := min(want-len(buf), step)
		buf = slices.Grow(buf, n)
		m, err := io.ReadFull(r, buf[len(buf):len(buf)+n])
		buf = buf[:len(buf)+m]
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}

// hides reports whether this layer hides a file that a lower layer wrote at p: by writing p itself,
// by deleting p or a directory above it, by making a directory above it opaque, or by putting a
// non-directory where a directory above it was.
func (s *layerScan) hides(p string) bool {
	if _, ok := s.entries[p]; ok {
		return true
	}
	if _, ok := s.whiteouts[p]; ok {
		return true
	}
	if _, ok := s.opaque[""]; ok {
		return true
	}
	for i := len(p) - 1; i > 0; i-- {
		if p[i] != '/' {
			continue
		}
		a := p[:i]
		if isDir, ok := s.entries[a]; ok && !isDir {
			return true
		}
		if _, ok := s.whiteouts[a]; ok {
			return true
		}
		if _, ok := s.opaque[a]; ok {
			return true
		}
	}
	return false
}

// assemble keeps the records that survive every later layer, finds the distro and builds the package
// list, deduplicated and sorted.
func assemble(inv *evidence.Inventory, scans []*layerScan, lics licenseList, opt Options) {
	visible := func(layer int, p string) bool {
		for _, s := range scans[layer+1:] {
			if s.hides(p) {
				return false
			}
		}
		return true
	}
	inv.Distro = distro(scans, visible)

	type merged struct {
		pkg   evidence.Package
		layer int
	}
	byPURL := map[string]*merged{}
	var md5s []record
	copyrights := map[string]record{}
	for i, s := range scans {
		for _, r := range s.records {
			if r.kind == recOSRelease || !visible(i, r.path) {
				continue
			}
			if r.kind == recMD5Sums {
				md5s = append(md5s, r)
				continue
			}
			if r.kind == recCopyright {
				copyrights[r.owner] = r
				continue
			}
			if r.err != nil {
				if opt.Skipped != nil {
					opt.Skipped("/"+r.path, r.err)
				}
				continue
			}
			for _, p := range r.pkgs {
				finish(&p, inv.Distro)
				loc := "/" + r.path
				m, ok := byPURL[p.PURL]
				if !ok {
					p.Layer, p.Locations = s.diffID, []string{loc}
					byPURL[p.PURL] = &merged{pkg: p, layer: i}
					continue
				}
				if i >= m.layer {
					m.pkg.Layer, m.layer = s.diffID, i
				}
				m.pkg.Locations = append(m.pkg.Locations, loc)
				m.pkg.Licenses = append(m.pkg.Licenses, p.Licenses...)
			}
		}
	}
	for _, m := range byPURL {
		p := m.pkg
		if p.Type == evidence.TypeDeb {
			for _, r := range md5s {
				if r.owner == p.Name && (r.ownerArch == "" || r.ownerArch == p.Arch) {
					p.Locations = append(p.Locations, "/"+r.path)
				}
			}
			if r, ok := copyrights[p.Name]; ok {
				p.Locations = append(p.Locations, "/"+r.path)
				for _, n := range r.licenses {
					if id, ok := lics.spdxFromDebian(n); ok {
						p.Licenses = append(p.Licenses, id)
					}
				}
			}
		}
		slices.Sort(p.Locations)
		p.Locations = slices.Compact(p.Locations)
		slices.Sort(p.Licenses)
		p.Licenses = slices.Compact(p.Licenses)
		inv.Packages = append(inv.Packages, p)
	}
	sortPackages(inv.Packages)
}

// sortPackages orders packages by type, name, version and package URL, so outputs are stable.
func sortPackages(pkgs []evidence.Package) {
	slices.SortFunc(pkgs, func(a, b evidence.Package) int {
		if c := strings.Compare(a.Type, b.Type); c != 0 {
			return c
		}
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		if c := strings.Compare(a.Version, b.Version); c != 0 {
			return c
		}
		return strings.Compare(a.PURL, b.PURL)
	})
}

// distro reads the topmost surviving os-release, following /etc/os-release when it is a symlink (as
// Debian ships it) to /usr/lib/os-release.
func distro(scans []*layerScan, visible func(int, string) bool) *evidence.Distro {
	top := map[string]*record{}
	for i := len(scans) - 1; i >= 0; i-- {
		for j := range scans[i].records {
			r := &scans[i].records[j]
			if r.kind != recOSRelease || top[r.path] != nil || !visible(i, r.path) {
				continue
			}
			top[r.path] = r
		}
	}
	etc, lib := top[etcOSRelease], top[libOSRelease]
	if etc != nil && etc.link == "" {
		return parseOSRelease(etc.data)
	}
	if etc != nil {
		target := etc.link
		if !strings.HasPrefix(target, "/") {
			target = path.Join(path.Dir(etcOSRelease), target)
		}
		if t, ok := cleanPath(target); !ok || t != libOSRelease {
			return nil
		}
	}
	if lib != nil && lib.link == "" {
		return parseOSRelease(lib.data)
	}
	return nil
}
