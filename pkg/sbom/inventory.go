package sbom

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/fault"
	"github.com/ingot-build/ingot/pkg/imageref"
	"github.com/ingot-build/ingot/pkg/layers"
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
	// Layers, when set, keeps what the inventory found in each layer (by imageref.ContentID), and gives it
	// back for a layer already read (in this image or another), which is then not read again.
	Layers layers.Cache
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

// Inventory reads the inventory of an image: walks every layer once, in order, through the layer
// walker (whiteouts, opaque directories and hard links applied as a runtime would), and runs the
// readers on the files that survive. Each package records the layer (diff ID) that last wrote its
// evidence file; packages whose evidence was deleted in a later layer are not reported.
//
// Only files whose names say they record packages are read, plus ELF files (for Go build info), and
// everything else is skipped in the stream. Visitor runs the same reading as one visitor of a walk
// shared with other stages.
func Inventory(ctx context.Context, img v1.Image, opt Options) (*evidence.Inventory, error) {
	li, err := layers.Open(img)
	if err != nil {
		return nil, err
	}
	v, err := NewVisitor(img, li, opt)
	if err != nil {
		return nil, err
	}
	if err := layers.Walk(ctx, li, layers.Options{Limits: opt.Limits, Cache: opt.Layers}, v); err != nil {
		return nil, err
	}
	return v.Inventory()
}

// Visitor is the inventory's reading of an image as a visitor of a layer walk (see pkg/layers):
// after the walk, Inventory returns what Inventory(ctx, img, opt) would have.
type Visitor struct {
	inv   *evidence.Inventory
	opt   Options
	rs    []reader
	scans []*layerScan
	done  bool
}

// NewVisitor prepares the inventory of img, whose layers li names, for a walk.
func NewVisitor(img v1.Image, li *layers.Image, opt Options) (*Visitor, error) {
	inv := &evidence.Inventory{Image: evidence.Image{Ref: opt.Ref}, Packages: []evidence.Package{}}
	d, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("reading image digest: %w", err)
	}
	inv.Image.Digest = d.String()
	inv.Image.OS, inv.Image.Arch = li.Config.OS, li.Config.Architecture
	v := &Visitor{inv: inv, opt: opt, rs: readers(), scans: make([]*layerScan, len(li.Layers))}
	for i, d := range li.DiffIDs {
		v.scans[i] = &layerScan{diffID: d.String()}
	}
	return v, nil
}

// Inventory is the inventory, once the walk is done.
func (v *Visitor) Inventory() (*evidence.Inventory, error) {
	if !v.done {
		return nil, errors.New("sbom: the walk did not finish")
	}
	return v.inv, nil
}

// Want asks for the files that record packages, os-release, the md5sums and copyright files of
// Debian packages, and ELF files (for Go build info).
func (v *Visitor) Want(e *layers.Entry) layers.Interest {
	if e.Whiteout || e.Opaque || e.Path == "" {
		return layers.Interest{}
	}
	p, h := e.Path, e.Header
	if h.Typeflag == tar.TypeSymlink && (p == etcOSRelease || p == libOSRelease) {
		return layers.Interest{Visit: true}
	}
	if h.Typeflag != tar.TypeReg {
		return layers.Interest{}
	}
	switch {
	case p == etcOSRelease || p == libOSRelease:
		return layers.Interest{Visit: true, Read: true, Max: 64 << 10, Truncate: true}
	case isMD5Sums(p):
		return layers.Interest{Visit: true}
	case isCopyright(p):
		return layers.Interest{Visit: true, Read: true, Max: maxCopyright, Truncate: true}
	case wanted(p, v.rs) != nil:
		return layers.Interest{Visit: true, Read: true, Max: maxEvidence}
	case h.Size >= 64 && h.Size <= maxGoBinary:
		// Only ELF files that may hold Go build info are copied out of the walk.
		return layers.Interest{Visit: true, Read: true, Max: maxGoBinary, Sniff: isELF, Match: mayHoldGoBuildInfo}
	}
	return layers.Interest{}
}

func isMD5Sums(p string) bool   { _, _, ok := md5sumsOwner(p); return ok }
func isCopyright(p string) bool { _, ok := copyrightOwner(p); return ok }

// Visit records one file of interest.
func (v *Visitor) Visit(_ context.Context, e *layers.Entry) error {
	s := v.scans[e.Layer]
	p, h := e.Path, e.Header
	rec := record{index: e.Index, path: p}
	switch {
	case h.Typeflag == tar.TypeSymlink:
		rec.kind, rec.link = recOSRelease, h.Linkname
	case p == etcOSRelease || p == libOSRelease:
		rec.kind, rec.data = recOSRelease, e.Data
	case isMD5Sums(p):
		rec.kind = recMD5Sums
		rec.owner, rec.ownerArch, _ = md5sumsOwner(p)
	case isCopyright(p):
		rec.kind = recCopyright
		rec.owner, _ = copyrightOwner(p)
		rec.licenses = debianLicenseNames(e.Data)
	default:
		rec.kind = recPackages
		if c := wanted(p, v.rs); c != nil {
			if e.Data == nil {
				rec.err = fmt.Errorf("%w: %d bytes is more than the %d read", ErrEvidence, h.Size, maxEvidence)
			} else {
				rec.pkgs, rec.err = c.parse(p, bytes.NewReader(e.Data))
			}
		} else if e.Data != nil {
			if rec.pkgs = parseGoBinary(e.Data); len(rec.pkgs) == 0 {
				return nil
			}
		} else {
			return nil
		}
	}
	s.records = append(s.records, rec)
	return nil
}

// Done settles which records survive and builds the inventory.
func (v *Visitor) Done(_ context.Context, fs *layers.FS) error {
	for i, s := range v.scans {
		for j := range s.records {
			s.records[j].hidden = fs.Fate(i, s.records[j].index).Removed
		}
	}
	lics, err := loadLicenseList()
	if err != nil {
		return err
	}
	assemble(v.inv, v.scans, lics, v.opt)
	v.done = true
	return nil
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
	kind  int
	index int // the entry's position in its layer
	path  string
	pkgs  []evidence.Package
	err   error // why the file could not be parsed; reported only if the file survives
	// hidden is set when a later layer deleted or replaced the file.
	hidden bool
	// os-release: its content, or its symlink target.
	data []byte
	link string
	// md5sums and copyright: the owning package.
	owner, ownerArch string
	// copyright: the license names it declares.
	licenses []string
}

// layerScan is what Inventory keeps of one layer: the files of interest.
type layerScan struct {
	diffID  string
	records []record
}

// cleanPath makes a tar entry name relative and clean; names that leave the root are not ours.
func cleanPath(name string) (string, bool) {
	p := path.Clean("/" + name)
	if p == "/" {
		return "", false
	}
	return p[1:], true
}

// scanLayer reads one layer on its own, as the only layer of an image.
func scanLayer(ctx context.Context, lr *imageref.LayerReader, l v1.Layer, diffID v1.Hash, rs []reader) (*layerScan, error) {
	v := &Visitor{rs: rs, scans: []*layerScan{{diffID: diffID.String()}}}
	li := &layers.Image{Config: &v1.ConfigFile{}, Layers: []v1.Layer{l}, DiffIDs: []v1.Hash{diffID}}
	if err := layers.Walk(ctx, li, layers.Options{Reader: lr}, scanOnly{v}); err != nil {
		return nil, err
	}
	return v.scans[0], nil
}

// scanOnly is a Visitor that records and settles, without assembling.
type scanOnly struct{ *Visitor }

func (s scanOnly) Done(_ context.Context, fs *layers.FS) error {
	for j := range s.scans[0].records {
		s.scans[0].records[j].hidden = fs.Fate(0, s.scans[0].records[j].index).Removed
	}
	return nil
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

// assemble keeps the records that survive every later layer, finds the distro and builds the package
// list, deduplicated and sorted.
func assemble(inv *evidence.Inventory, scans []*layerScan, lics licenseList, opt Options) {
	inv.Distro = distro(scans)

	type merged struct {
		pkg   evidence.Package
		layer int
	}
	byPURL := map[string]*merged{}
	var md5s []record
	copyrights := map[string]record{}
	for i, s := range scans {
		for _, r := range s.records {
			if r.kind == recOSRelease || r.hidden {
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
func distro(scans []*layerScan) *evidence.Distro {
	top := map[string]*record{}
	for i := len(scans) - 1; i >= 0; i-- {
		for j := range scans[i].records {
			r := &scans[i].records[j]
			if r.kind != recOSRelease || top[r.path] != nil || r.hidden {
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
