package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ingot-build/ingot/internal/safefile"
	"github.com/ingot-build/ingot/pkg/catalog/sqlite"
	"github.com/ingot-build/ingot/pkg/catalog/sqlstore"
	"github.com/ingot-build/ingot/pkg/fault"
	"github.com/ingot-build/ingot/pkg/layers"
	"github.com/ingot-build/ingot/pkg/publish"
	"github.com/ingot-build/ingot/pkg/sbom"
)

// ErrDamaged means fsck left problems in the data directory that it could not repair.
var ErrDamaged = fault.New(fault.Integrity, "store: the data directory is damaged")

// Kinds of problem fsck reports.
const (
	// KindDamaged: content does not hash to the digest that names it.
	KindDamaged = "damaged"
	// KindMissing: a blob an image needs is not there.
	KindMissing = "missing"
	// KindMalformed: a file that does not parse as what it should hold.
	KindMalformed = "malformed"
	// KindStale: a cache entry nothing will ever use (it points at no stored image, or another ingot
	// binary wrote it).
	KindStale = "stale"
	// KindTemporary: a temporary file or directory left by a run that is gone.
	KindTemporary = "temporary"
	// KindUnreadable: a file that could not be read.
	KindUnreadable = "unreadable"
)

// Problem is one thing wrong in the data directory.
type Problem struct {
	// Path is the file or directory.
	Path string `json:"path"`
	// Kind is one of the Kind constants.
	Kind string `json:"kind"`
	// Detail says what is wrong.
	Detail string `json:"detail"`
	// Repaired is true when the repair fixed it; Action says what the repair did, or what will.
	Repaired bool   `json:"repaired"`
	Action   string `json:"action,omitempty"`
}

// FsckReport is what Fsck found.
type FsckReport struct {
	Root     string    `json:"root"`
	Problems []Problem `json:"problems"`
}

// Remaining counts the problems not repaired.
func (r *FsckReport) Remaining() int {
	n := 0
	for _, p := range r.Problems {
		if !p.Repaired {
			n++
		}
	}
	return n
}

// Err is nil when nothing is left to repair, else an error wrapping ErrDamaged.
func (r *FsckReport) Err() error {
	if n := r.Remaining(); n > 0 {
		return fmt.Errorf("%w: %d problem(s) in %s remain", ErrDamaged, n, r.Root)
	}
	return nil
}

// FsckOptions tune Fsck.
type FsckOptions struct {
	// Repair removes what can be fetched or computed again (damaged or stale cache entries, stale
	// temporary files, orphaned build-cache entries) and replaces damaged layout blobs with a
	// verified copy of the same digest from another layout of the store.
	Repair bool
}

// Fsck checks the whole data directory: every layout's index.json entries and the blobs they
// reference (present, hashing to their names, manifests that parse); the content-addressed caches
// (packages, indexes, signature material), hashed again; the inventory and build caches (entries
// that parse and point somewhere), the layer analysis cache (entries that match their checksum); each evidence directory (documents that parse); the vulnerability
// database's index files; and the temporary files killed runs left (see Sweep). The error is for a
// walk that could not be done; what it finds is in the report (Err says whether any remains).
func (s Store) Fsck(ctx context.Context, opt FsckOptions) (*FsckReport, error) {
	f := &fsck{s: s, repair: opt.Repair, r: &FsckReport{Root: s.Root, Problems: []Problem{}}}
	steps := []func(context.Context) error{
		f.temporary, f.layouts, f.contentCaches, f.indexTexts, f.inventories, f.layerAnalyses, f.builds, f.evidence, f.vulnDB, f.catalog,
	}
	for _, step := range steps {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := step(ctx); err != nil {
			return nil, fmt.Errorf("checking %s: %w", s.Root, err)
		}
	}
	return f.r, nil
}

type fsck struct {
	s      Store
	repair bool
	r      *FsckReport
	// stored maps the digest of every image and index stored in a layout (the index.json entries
	// and, below an index, its images) to the top-level entry digest it belongs to.
	stored map[v1.Hash]v1.Hash
}

func (f *fsck) add(p Problem) { f.r.Problems = append(f.r.Problems, p) }

// remove deletes what can be fetched or computed again, when repairing.
func (f *fsck) remove(p Problem, why string) {
	if !f.repair {
		p.Action = "--repair removes it: " + why
	} else if err := os.RemoveAll(p.Path); err != nil {
		p.Action = "removing it failed: " + err.Error()
	} else {
		p.Repaired, p.Action = true, "removed: "+why
	}
	f.add(p)
}

// entries lists a directory; a missing one is empty.
func entries(dir string) ([]fs.DirEntry, error) {
	es, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return es, err
}

// temporary reports the stale temporary files of every directory Sweep sweeps.
func (f *fsck) temporary(context.Context) error {
	dirs, err := f.s.tempDirs()
	if err != nil {
		return err
	}
	now := time.Now()
	for _, d := range dirs {
		es, err := entries(d)
		if err != nil {
			return err
		}
		for _, e := range es {
			if !safefile.IsTemp(e.Name()) {
				continue
			}
			fi, err := e.Info()
			if err != nil || !safefile.Stale(e.Name(), fi.ModTime(), now) {
				continue
			}
			f.remove(Problem{Path: filepath.Join(d, e.Name()), Kind: KindTemporary, Detail: "left by a run that is gone"}, "nothing uses it")
		}
	}
	return nil
}

// layoutNames lists the layouts of the store.
func (f *fsck) layoutNames() ([]string, error) {
	es, err := entries(f.s.Layouts().Root)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range es {
		if e.IsDir() && !safefile.IsTemp(e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// layouts checks every layout's images and records what is stored, for the build cache and the
// evidence checks.
func (f *fsck) layouts(ctx context.Context) error {
	ls := f.s.Layouts()
	names, err := f.layoutNames()
	if err != nil {
		return err
	}
	f.stored = map[v1.Hash]v1.Hash{}
	for _, name := range names {
		dir := ls.Dir(name)
		if _, err := os.Stat(filepath.Join(dir, "index.json")); errors.Is(err, fs.ErrNotExist) {
			continue // a layout whose first write failed holds no image
		}
		damage, err := ls.Check(ctx, name, "", f.repair)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			f.add(Problem{Path: filepath.Join(dir, "index.json"), Kind: KindMalformed, Detail: err.Error(),
				Action: "cannot be repaired here: `ingot build` of the specs of " + name + " writes the layout's images again"})
			continue
		}
		for _, d := range damage {
			p := Problem{Path: d.Path, Kind: damageKind(d.Err), Detail: damageDetail(d.Err)}
			rebuild := "`ingot build` of the spec of " + name + " writes it again"
			switch {
			case d.RepairedFrom != "":
				p.Repaired, p.Action = true, "replaced by the verified copy in "+d.RepairedFrom
			case errors.Is(d.Err, publish.ErrMalformed):
				p.Action = "cannot be repaired here: " + rebuild
			case !f.repair:
				p.Action = "--repair copies it from another layout that holds it intact; otherwise " + rebuild
			default:
				p.Action = "cannot be repaired here: no other layout holds an intact copy; " + rebuild
			}
			f.add(p)
		}
		f.recordStored(name)
	}
	return nil
}

// damageDetail says what is wrong with a blob; the path says which blob of which layout.
func damageDetail(err error) string {
	var m *publish.MismatchError
	switch {
	case errors.As(err, &m):
		return "content hashes to " + m.Got.String()
	case errors.Is(err, fs.ErrNotExist):
		return "no such file"
	}
	return err.Error()
}

func damageKind(err error) string {
	switch {
	case errors.Is(err, publish.ErrIntegrity):
		return KindDamaged
	case errors.Is(err, fs.ErrNotExist):
		return KindMissing
	case errors.Is(err, publish.ErrMalformed):
		return KindMalformed
	}
	return KindUnreadable
}

// recordStored notes the digests layout name holds: its entries and the images of its indexes.
func (f *fsck) recordStored(name string) {
	l := publish.Layout{Dir: f.s.Layouts().Dir(name)}
	idx, err := l.IndexManifest()
	if err != nil {
		return
	}
	for _, d := range idx.Manifests {
		f.stored[d.Digest] = d.Digest
		if !d.MediaType.IsIndex() {
			continue
		}
		ii, err := l.ImageIndex(d)
		if err != nil {
			continue // reported by the layout check
		}
		m, err := ii.IndexManifest()
		if err != nil {
			continue
		}
		for _, c := range m.Manifests {
			f.stored[c.Digest] = d.Digest
		}
	}
}

// contentCaches hashes every entry of the caches named by the sha256 of their content.
func (f *fsck) contentCaches(ctx context.Context) error {
	for _, c := range []struct{ dir, what string }{
		{filepath.Dir(f.s.Packages().Path("x")), "fetched again when a build needs it"},
		{filepath.Dir(f.s.Indexes().Path("x")), "fetched again when a lock needs it"},
		{filepath.Join(f.s.Signatures(), "sha256"), "fetched again when a verification needs it"},
	} {
		es, err := entries(c.dir)
		if err != nil {
			return err
		}
		for _, e := range es {
			if err := ctx.Err(); err != nil {
				return err
			}
			if _, err := v1.NewHash("sha256:" + e.Name()); err != nil || !e.Type().IsRegular() {
				continue // not an entry: temporary files are checked with the others
			}
			p := filepath.Join(c.dir, e.Name())
			got, err := hashFile(p)
			switch {
			case err != nil:
				f.add(Problem{Path: p, Kind: KindUnreadable, Detail: err.Error()})
			case got != e.Name():
				f.remove(Problem{Path: p, Kind: KindDamaged, Detail: "content hashes to sha256:" + got}, c.what)
			}
		}
	}
	return nil
}

// indexTexts checks the cache of decompressed index texts (every entry must hash to its header)
// and reports the parsed-index cache of earlier ingots as stale: a lock now scans the text and
// parses the stanzas it needs, and nothing reads that cache.
func (f *fsck) indexTexts(ctx context.Context) error {
	c := f.s.IndexTexts()
	es, err := entries(c.Dir)
	if err != nil {
		return err
	}
	for _, e := range es {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !e.Type().IsRegular() || safefile.IsTemp(e.Name()) {
			continue
		}
		p := filepath.Join(c.Dir, e.Name())
		if err := c.Check(p); err != nil {
			f.remove(Problem{Path: p, Kind: KindDamaged, Detail: err.Error()}, "the index is decompressed again when a lock needs it")
		}
	}
	p := f.s.LegacyParsedIndexes()
	if _, err := os.Lstat(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	f.remove(Problem{Path: p, Kind: KindStale, Detail: "Packages indexes parsed by an earlier ingot"}, "no ingot of this version reads them")
	return nil
}

// inventories checks the inventory cache's entries.
func (f *fsck) inventories(context.Context) error {
	c := f.s.Inventories()
	es, err := entries(c.Dir)
	if err != nil {
		return err
	}
	for _, e := range es {
		if !e.Type().IsRegular() || safefile.IsTemp(e.Name()) || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		p := filepath.Join(c.Dir, e.Name())
		err := c.CheckEntry(p)
		switch {
		case err == nil:
		case errors.Is(err, sbom.ErrStaleEntry):
			f.remove(Problem{Path: p, Kind: KindStale, Detail: err.Error()}, "no ingot will read it")
		default:
			f.remove(Problem{Path: p, Kind: KindMalformed, Detail: err.Error()}, "the inventory is computed again when needed")
		}
	}
	return nil
}

// layerAnalyses checks the layer analysis cache: each entry holds the checksum of its record.
func (f *fsck) layerAnalyses(context.Context) error {
	dir := f.s.LayerAnalyses().Dir
	es, err := entries(dir)
	if err != nil {
		return err
	}
	for _, e := range es {
		if !e.Type().IsRegular() || safefile.IsTemp(e.Name()) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(p)
		if err == nil {
			err = layers.Check(data)
		}
		if err != nil {
			f.remove(Problem{Path: p, Kind: KindMalformed, Detail: err.Error()}, "the layer is read again when needed")
		}
	}
	return nil
}

// builds checks the build cache: each entry holds a digest that a layout stores.
func (f *fsck) builds(context.Context) error {
	es, err := entries(f.s.BuildCache())
	if err != nil {
		return err
	}
	for _, e := range es {
		if !e.Type().IsRegular() || safefile.IsTemp(e.Name()) {
			continue
		}
		p := filepath.Join(f.s.BuildCache(), e.Name())
		d, err := f.s.CachedBuild(e.Name())
		switch {
		case err != nil:
			f.remove(Problem{Path: p, Kind: KindMalformed, Detail: err.Error()}, "the next build finds out again")
		case !f.isStored(d):
			f.remove(Problem{Path: p, Kind: KindStale, Detail: "points at " + d.String() + ", which no layout holds"}, "the next build finds out again")
		}
	}
	return nil
}

func (f *fsck) isStored(d v1.Hash) bool {
	_, ok := f.stored[d]
	return ok
}

// evidence checks that every recorded document parses. A damaged one is recorded again by the next
// build of its image, once the build cache no longer says the image is done: repairing removes the
// build-cache entries of that image.
func (f *fsck) evidence(context.Context) error {
	names, err := entries(f.s.EvidenceRoot())
	if err != nil {
		return err
	}
	for _, n := range names {
		if !n.IsDir() || safefile.IsTemp(n.Name()) {
			continue
		}
		digests, err := entries(filepath.Join(f.s.EvidenceRoot(), n.Name()))
		if err != nil {
			return err
		}
		for _, d := range digests {
			if !d.IsDir() || safefile.IsTemp(d.Name()) {
				continue
			}
			dir := filepath.Join(f.s.EvidenceRoot(), n.Name(), d.Name())
			docs, err := entries(dir)
			if err != nil {
				return err
			}
			for _, doc := range docs {
				if !doc.Type().IsRegular() {
					continue
				}
				p := filepath.Join(dir, doc.Name())
				data, err := os.ReadFile(p)
				if err == nil && json.Valid(data) {
					continue
				}
				detail := "not a JSON document"
				if err != nil {
					detail = err.Error()
				}
				f.add(f.evidenceProblem(p, n.Name(), v1.Hash{Algorithm: "sha256", Hex: d.Name()}, detail))
			}
		}
	}
	return nil
}

func (f *fsck) evidenceProblem(path, name string, d v1.Hash, detail string) Problem {
	p := Problem{Path: path, Kind: KindMalformed, Detail: detail,
		Action: "cannot be repaired here: `ingot build` of the spec of " + name + " records it again"}
	top, ok := f.stored[d]
	if !ok || !f.repair {
		return p
	}
	es, err := entries(f.s.BuildCache())
	if err != nil {
		return p
	}
	var removed []string
	for _, e := range es {
		if c, err := f.s.CachedBuild(e.Name()); err == nil && c == top {
			if os.Remove(filepath.Join(f.s.BuildCache(), e.Name())) == nil {
				removed = append(removed, e.Name())
			}
		}
	}
	if len(removed) > 0 {
		p.Action = fmt.Sprintf("cannot be repaired here; removed the build-cache entries of %s, so that `ingot build` of the spec of %s records it again", top, name)
	}
	return p
}

// vulnDB opens every index file of the vulnerability database.
func (f *fsck) vulnDB(context.Context) error {
	bad, err := f.s.VulnDB().Check()
	if err != nil {
		return err
	}
	paths := make([]string, 0, len(bad))
	for p := range bad {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, p := range paths {
		f.add(Problem{Path: p, Kind: KindMalformed, Detail: bad[p].Error(),
			Action: "cannot be repaired here: import the source again (ingot db import, or ingot db update)"})
	}
	return nil
}

// catalog runs SQLite's consistency check on the embedded catalog, when there is one (a PostgreSQL
// catalog is the server's to check).
func (f *fsck) catalog(ctx context.Context) error {
	p := f.s.CatalogPath()
	if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	err := sqlite.Check(ctx, p)
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, sqlstore.ErrTooNew):
		f.add(Problem{Path: p, Kind: KindStale, Detail: err.Error(), Action: "cannot be repaired here: use the newer ingot that wrote it"})
	case errors.Is(err, sqlite.ErrDamaged):
		f.add(Problem{Path: p, Kind: KindDamaged, Detail: err.Error(), Action: "cannot be repaired here: restore catalog.db from a backup (sqlite3's .recover salvages what it can)"})
	default:
		f.add(Problem{Path: p, Kind: KindMalformed, Detail: err.Error(), Action: "cannot be repaired here: restore catalog.db from a backup"})
	}
	return nil
}

func hashFile(path string) (string, error) {
	fh, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer fh.Close()
	h := sha256.New()
	if _, err := io.Copy(h, fh); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
