package vuln

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ingot-build/ingot/internal/safefile"
	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/fault"
)

// Errors the CLI can tell apart. Those about the data given to Import or Update are of kind
// fault.Invalid: what was given is wrong, whatever the reason (ErrInvalidRecord is one of them too).
var (
	// ErrNoRecords means a source held no OSV records.
	ErrNoRecords = fault.New(fault.Invalid, "vuln: no OSV records found")
	// ErrNoData means nothing has been imported yet, so nothing can be matched.
	ErrNoData = errors.New("vuln: no vulnerability data imported (run ingot db import or ingot db update)")
	// ErrSourceName means a source name cannot name a file.
	ErrSourceName = fault.New(fault.Invalid, "vuln: invalid source name")
	// ErrSource means a source cannot be read as OSV data: it does not exist, is not a directory, a
	// .zip or a .json file, or a zip in it is not a valid zip archive (random bytes, truncated, an entry
	// that fails its checksum).
	ErrSource = fault.New(fault.Invalid, "vuln: unreadable OSV source")
	// ErrTooLarge means a source inflates to more than the import's MaxSize, or its zips hold more than
	// MaxZipEntries entries: an archive bomb, or data far larger than any OSV database.
	ErrTooLarge = fault.New(fault.Invalid, "vuln: OSV source too large")
)

// DefaultMaxSize is the default budget of an import: the decompressed bytes of all the OSV documents
// of a source together. osv.dev's largest ecosystem (Debian) inflates to about 1 GiB.
const DefaultMaxSize int64 = 4 << 30

// MaxZipEntries bounds the entries of a source's zips, one or all together. archive/zip holds a zip's
// whole central directory in memory (a few hundred bytes per entry), so the count is checked before
// each zip is opened; osv.dev's zip of every ecosystem holds well under a million.
const MaxZipEntries = 10_000_000

// maxRecordSize bounds one OSV document; the largest real records are a few hundred kilobytes.
const maxRecordSize = 64 << 20

// DB is the imported OSV data, kept as an index under Dir (<data-dir>/vulndb): one file per source,
// <name>.vdb, replaced by rename so readers see the old data or the new, never a mix.
type DB struct{ Dir string }

// ImportOptions tune Import.
type ImportOptions struct {
	// Name is the source's name; an import under an existing name replaces that source's data. The
	// default is the base name of src without extension, or its directory's name for an "all.zip".
	Name string
	// MaxSize bounds the bytes of OSV JSON the source may inflate to, all its documents together (zip
	// entries counted decompressed, zips inside a directory included); a larger source fails with
	// ErrTooLarge and changes nothing. Zero means DefaultMaxSize.
	MaxSize int64
}

// ImportStats counts what an import or update stored.
type ImportStats struct {
	Source    string `json:"source"`
	Records   int    `json:"records"`
	Withdrawn int    `json:"withdrawn"`
	// Ecosystems counts records per OSV ecosystem ("Go", "Debian:12"); a record affecting packages of
	// several ecosystems counts in each.
	Ecosystems map[string]int `json:"ecosystems"`
}

// Status describes the imported data.
type Status struct {
	Dir     string         `json:"dir"`
	Sources []SourceStatus `json:"sources"`
}

// SourceStatus describes one source.
type SourceStatus struct {
	Name string `json:"name"`
	// Origin is where the data came from: an absolute path, or the URL of an update.
	Origin   string    `json:"origin"`
	Imported time.Time `json:"imported"`
	// Modified is the newest "modified" time among the records; zero when the data carries none.
	Modified   time.Time         `json:"modified,omitzero"`
	Records    int               `json:"records"`
	Withdrawn  int               `json:"withdrawn"`
	Ecosystems []EcosystemStatus `json:"ecosystems"`
	// Requested are the ecosystems an update downloaded, which a later update fetches again.
	Requested []string `json:"requested,omitempty"`
}

// EcosystemStatus counts one ecosystem of a source.
type EcosystemStatus struct {
	Name      string `json:"name"`
	Records   int    `json:"records"`
	Withdrawn int    `json:"withdrawn"`
	Packages  int    `json:"packages"`
}

// Import reads OSV JSON from src — a directory of *.json (recursively, zips inside included), a .zip of
// them, a single .json, or a directory laid out as osv-scanner's offline databases
// (<Ecosystem>/all.zip) — and replaces the data of the source atomically: a failed import changes
// nothing. A record that is not valid JSON or lacks an id or affected packages fails the import with
// an error naming its file; unknown fields are ignored. Withdrawn records are kept, marked, and never
// matched. A record present twice (a zip per ecosystem repeats records that span ecosystems) is kept
// once, the most recently modified copy.
func (db *DB) Import(ctx context.Context, src string, opt ImportOptions) (ImportStats, error) {
	name := opt.Name
	if name == "" {
		name = defaultSourceName(src)
	}
	if err := checkSourceName(name); err != nil {
		return ImportStats{}, err
	}
	origin, err := filepath.Abs(src)
	if err != nil {
		return ImportStats{}, err
	}
	return db.importSource(ctx, src, indexHeader{SourceStatus: SourceStatus{Name: name, Origin: origin}}, opt.MaxSize)
}

// importSource reads src, within maxSize decompressed bytes (0 for the default), and writes the index
// for h.Name.
func (db *DB) importSource(ctx context.Context, src string, h indexHeader, maxSize int64) (ImportStats, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxSize
	}
	recs, err := readRecords(ctx, src, maxSize)
	if err != nil {
		return ImportStats{}, err
	}
	if len(recs) == 0 {
		return ImportStats{}, fmt.Errorf("%w in %s", ErrNoRecords, src)
	}
	d, stats := buildIndex(recs, &h)
	stats.Source = h.Name
	h.Imported = time.Now().UTC()
	if err := db.writeSource(h, d); err != nil {
		return ImportStats{}, err
	}
	return stats, nil
}

// writeSource writes a source's index to a temporary file and renames it into place.
func (db *DB) writeSource(h indexHeader, d indexData) (err error) {
	if err := os.MkdirAll(db.Dir, 0o755); err != nil {
		return fmt.Errorf("creating vulnerability database directory: %w", err)
	}
	tmp, err := safefile.CreateTemp(db.Dir, "import")
	if err != nil {
		return fmt.Errorf("writing vulnerability index: %w", err)
	}
	defer func() {
		if err != nil {
			// The import already failed; a temporary file left behind is hidden from readers.
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	// Readable by all like the rest of the data directory (CreateTemp makes files private).
	if err := tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("writing vulnerability index %s: %w", tmp.Name(), err)
	}
	if err := writeIndex(tmp, h, d); err != nil {
		return fmt.Errorf("writing vulnerability index %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("writing vulnerability index %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing vulnerability index %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), db.sourcePath(h.Name)); err != nil {
		return fmt.Errorf("replacing vulnerability index of %s: %w", h.Name, err)
	}
	return nil
}

func (db *DB) sourcePath(name string) string { return filepath.Join(db.Dir, name+indexSuffix) }

// defaultSourceName names a source after its path: "ghsa.zip" is "ghsa", ".../Go/all.zip" is "Go".
func defaultSourceName(src string) string {
	clean := filepath.Clean(src)
	base := filepath.Base(clean)
	base = strings.TrimSuffix(strings.TrimSuffix(base, ".zip"), ".json")
	if base == "all" {
		base = filepath.Base(filepath.Dir(clean))
	}
	var b strings.Builder
	for _, r := range base {
		if isNameRune(r) {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	return strings.TrimLeft(b.String(), ".-_")
}

func isNameRune(r rune) bool {
	return (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') || r == '.' || r == '-' || r == '_'
}

// checkSourceName accepts names that are safe file names everywhere.
func checkSourceName(name string) error {
	if name == "" || len(name) > 100 || !isNameRune(rune(name[0])) || name[0] == '.' || name[0] == '-' {
		return fmt.Errorf("%w %q: use letters, digits, '.', '-' and '_', starting with a letter or digit", ErrSourceName, name)
	}
	for _, r := range name {
		if !isNameRune(r) {
			return fmt.Errorf("%w %q: use letters, digits, '.', '-' and '_', starting with a letter or digit", ErrSourceName, name)
		}
	}
	return nil
}

// document is one OSV JSON document to read: a file or a zip entry.
type document struct {
	name string
	open func() (io.ReadCloser, error)
	// size is what the file system or the zip's directory says the document holds; the budget counts
	// what is actually read, this only refuses an obvious bomb before reading anything.
	size uint64
}

// record is a parsed record reduced to what the index keeps.
type record struct {
	id        string
	from      string
	modified  time.Time
	withdrawn bool
	packages  []packageAdvisory
	// aliases and rating feed the ratings table, which keeps records without packages too.
	aliases []string
	rating  rating
}

type packageAdvisory struct {
	ecosystem, name string
	advisory        advisory
}

// readRecords reads every OSV document under src, in parallel, keeping one record per id. The
// documents together may inflate to maxSize bytes at most.
func readRecords(ctx context.Context, src string, maxSize int64) (map[string]*record, error) {
	docs, closers, err := listDocuments(src)
	defer func() {
		for _, c := range closers {
			_ = c.Close() // read-only
		}
	}()
	if err != nil {
		return nil, err
	}
	b := &budget{src: src, limit: maxSize}
	if err := b.declared(docs); err != nil {
		return nil, err
	}
	return readDocuments(ctx, docs, b)
}

// readDocuments reads the documents in parallel within the budget, keeping one record per id.
func readDocuments(ctx context.Context, docs []document, b *budget) (map[string]*record, error) {
	var mu sync.Mutex
	recs := make(map[string]*record, len(docs))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for _, d := range docs {
		g.Go(func() error {
			if err := ctx.Err(); err != nil {
				return err
			}
			r, err := readDocument(d, b)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			if old, ok := recs[r.id]; ok && !newer(r, old) {
				return nil
			}
			recs[r.id] = r
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return recs, nil
}

// newer reports whether r should replace old: later modified, or for equal times the first name, so
// the outcome does not depend on reading order.
func newer(r, old *record) bool {
	if !r.modified.Equal(old.modified) {
		return r.modified.After(old.modified)
	}
	return r.from < old.from
}

func readDocument(d document, b *budget) (*record, error) {
	rc, err := d.open()
	if err != nil {
		return nil, fmt.Errorf("%w: reading %s: %w", ErrSource, d.name, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(b.reader(rc, d.name), maxRecordSize+1))
	if errors.Is(err, ErrTooLarge) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("%w: reading %s: %w", ErrSource, d.name, err)
	}
	if len(data) > maxRecordSize {
		return nil, fmt.Errorf("%w %s: larger than %d bytes", ErrInvalidRecord, d.name, maxRecordSize)
	}
	r, err := parseRecord(d.name, data)
	if err != nil {
		return nil, err
	}
	return compact(d.name, r), nil
}

// compact turns a record into the index's per-package advisories.
func compact(from string, r *osvRecord) *record {
	rec := &record{id: r.ID, from: from, modified: r.modifiedTime(), withdrawn: r.Withdrawn != "", aliases: r.Aliases, rating: recordRating(r)}
	var refs []string
	for _, ref := range r.References {
		if ref.URL != "" && !slices.Contains(refs, ref.URL) {
			refs = append(refs, ref.URL)
		}
	}
	for i := range r.Affected {
		a := &r.Affected[i]
		if a.Package == nil {
			continue // a repository-only entry (GIT ranges): no package to match
		}
		eco := canonicalEcosystem(a.Package.Ecosystem)
		sev, cvss := severityOf(r, a)
		adv := advisory{
			ID: r.ID, Aliases: r.Aliases, Summary: r.Summary, Details: r.Details, Withdrawn: rec.withdrawn,
			Severity: sev, CVSS: cvss, References: refs, Versions: a.Versions, Published: r.publishedTime(),
		}
		for _, rg := range a.Ranges {
			vr := versionRange{Type: rg.Type}
			if rg.Type == rangeSemver || rg.Type == rangeEcosystem {
				for _, e := range rg.Events {
					k, v, _ := e.kind() // validated by parseRecord
					vr.Events = append(vr.Events, event{Kind: k, Version: v})
				}
			}
			adv.Ranges = append(adv.Ranges, vr)
		}
		rec.packages = append(rec.packages, packageAdvisory{ecosystem: eco, name: normalizeName(eco, a.Package.Name), advisory: adv})
	}
	return rec
}

// listDocuments finds the OSV documents under src. The zips it opens are returned to be closed after
// reading.
func listDocuments(src string) ([]document, []io.Closer, error) {
	fi, err := os.Stat(src)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrSource, err)
	}
	var docs []document
	var closers []io.Closer
	entriesLeft := uint64(MaxZipEntries)
	addFile := func(path string, size int64) error {
		switch strings.ToLower(filepath.Ext(path)) {
		case ".json":
			docs = append(docs, document{name: path, open: func() (io.ReadCloser, error) { return os.Open(path) }, size: uint64(max(size, 0))})
		case ".zip":
			zr, err := openZip(path, entriesLeft)
			if err != nil {
				return err
			}
			closers = append(closers, zr)
			entriesLeft -= min(uint64(len(zr.File)), entriesLeft)
			for _, f := range zr.File {
				if f.FileInfo().IsDir() || !strings.EqualFold(filepath.Ext(f.Name), ".json") {
					continue
				}
				docs = append(docs, document{name: path + "!" + f.Name, open: f.Open, size: f.UncompressedSize64})
			}
		}
		return nil
	}
	if !fi.IsDir() {
		switch strings.ToLower(filepath.Ext(src)) {
		case ".json", ".zip":
		default:
			return nil, nil, fmt.Errorf("%w %s: want a directory, a .zip or a .json file", ErrSource, src)
		}
		return docs, closers, addFile(src, fi.Size())
	}
	err = filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != src && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		return addFile(path, fi.Size())
	})
	if errors.Is(err, ErrSource) || errors.Is(err, ErrTooLarge) {
		return nil, closers, err
	}
	if err != nil {
		return nil, closers, fmt.Errorf("%w %s: %w", ErrSource, src, err)
	}
	sort.Slice(docs, func(i, j int) bool { return docs[i].name < docs[j].name })
	return docs, closers, nil
}

// indexData is what an index file holds besides its header.
type indexData struct {
	// ecosystems maps ecosystem → package → advisories.
	ecosystems map[string]map[string][]advisory
	// ratings maps a vulnerability ID → the rated records that have it as ID or alias.
	ratings map[string][]rated
}

// buildIndex groups the records by ecosystem and package, and the rated ones by ID and alias; it
// fills h's counts and returns the stats.
func buildIndex(recs map[string]*record, h *indexHeader) (indexData, ImportStats) {
	ids := make([]string, 0, len(recs))
	for id := range recs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	d := indexData{ecosystems: map[string]map[string][]advisory{}, ratings: map[string][]rated{}}
	counts := map[string]*section{}
	stats := ImportStats{Ecosystems: map[string]int{}}
	for _, id := range ids {
		r := recs[id]
		stats.Records++
		if r.withdrawn {
			stats.Withdrawn++
		}
		if r.modified.After(h.Modified) {
			h.Modified = r.modified
		}
		if !r.withdrawn && r.rating.severity != evidence.SeverityUnknown {
			// A withdrawn record rates nothing: it is not a vulnerability any more.
			rd := rated{ID: r.id, Severity: r.rating.severity, Basis: r.rating.basis}
			for _, key := range append([]string{r.id}, r.aliases...) {
				if !slices.ContainsFunc(d.ratings[key], func(x rated) bool { return x.ID == r.id }) {
					d.ratings[key] = append(d.ratings[key], rd)
				}
			}
		}
		counted := map[string]bool{}
		for _, p := range r.packages {
			pkgs := d.ecosystems[p.ecosystem]
			if pkgs == nil {
				pkgs = map[string][]advisory{}
				d.ecosystems[p.ecosystem] = pkgs
			}
			pkgs[p.name] = append(pkgs[p.name], p.advisory)
			if counted[p.ecosystem] {
				continue
			}
			counted[p.ecosystem] = true
			s := counts[p.ecosystem]
			if s == nil {
				s = &section{EcosystemStatus: EcosystemStatus{Name: p.ecosystem}}
				counts[p.ecosystem] = s
			}
			s.Records++
			if r.withdrawn {
				s.Withdrawn++
			}
			stats.Ecosystems[p.ecosystem]++
		}
	}
	h.Records, h.Withdrawn = stats.Records, stats.Withdrawn
	h.Ecosystems = nil
	for _, s := range counts {
		h.Ecosystems = append(h.Ecosystems, *s)
	}
	return d, stats
}

// Status lists the sources with their counts per ecosystem, when they were imported and the newest
// "modified" time of their records. A database never imported into has no sources.
func (db *DB) Status() (Status, error) {
	st := Status{Dir: db.Dir, Sources: []SourceStatus{}}
	paths, err := db.sourcePaths()
	if err != nil {
		return st, err
	}
	for _, p := range paths {
		x, err := openIndex(p)
		if err != nil {
			return st, err
		}
		h := x.header
		x.Close()
		s := h.SourceStatus
		for _, e := range h.Ecosystems {
			s.Ecosystems = append(s.Ecosystems, e.EcosystemStatus)
		}
		st.Sources = append(st.Sources, s)
	}
	return st, nil
}

// sourcePaths lists the index files, sorted.
func (db *DB) sourcePaths() ([]string, error) {
	entries, err := os.ReadDir(db.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading vulnerability database: %w", err)
	}
	var paths []string
	for _, e := range entries {
		if n := e.Name(); !e.IsDir() && !strings.HasPrefix(n, ".") && strings.HasSuffix(n, indexSuffix) {
			paths = append(paths, filepath.Join(db.Dir, n))
		}
	}
	return paths, nil
}
