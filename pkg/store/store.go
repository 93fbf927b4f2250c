package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ingot-build/ingot/internal/safefile"
	"github.com/ingot-build/ingot/pkg/apt"
	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/catalog/postgres"
	"github.com/ingot-build/ingot/pkg/catalog/sqlite"
	"github.com/ingot-build/ingot/pkg/catalog/sqlstore"
	"github.com/ingot-build/ingot/pkg/fault"
	"github.com/ingot-build/ingot/pkg/layers"
	"github.com/ingot-build/ingot/pkg/publish"
	"github.com/ingot-build/ingot/pkg/sbom"
	"github.com/ingot-build/ingot/pkg/vuln"
)

// ErrNoEvidence means no evidence is recorded for an image digest: ingot did not build it here.
var ErrNoEvidence = fault.New(fault.NotFound, "store: no evidence recorded for the image")

// Store is one data directory:
//
//	oci/<name>/              OCI image layout per image name
//	cache/debs/sha256/       content-addressed .deb files
//	cache/indexes/sha256/    verified Packages indexes
//	cache/texts/             their decompressed text, by the index's sha256
//	cache/builds/            build inputs digest -> image digest
//	cache/inventories/       SBOM inventories by image digest
//	cache/signatures/sha256/ signature material by digest
//	evidence/<name>/<hex>/   the documents recorded for each built image
//	vulndb/                  imported OSV data
//	catalog.db               the catalog (SQLite), unless CatalogDSN names another database
//	jobs.db                  the rebuild job queue (SQLite), unless the catalog is PostgreSQL
//	work/                    registered specs unpacked by the rebuild jobs building them
//	locks/                   a lock per catalog version being published on this machine
type Store struct {
	Root string
	// CatalogDSN names the catalog's database: empty for SQLite at <Root>/catalog.db, postgres://…
	// for PostgreSQL, sqlite:PATH for another SQLite file.
	CatalogDSN string
}

// ErrCatalogDSN means the catalog's connection string names no backend ingot has.
var ErrCatalogDSN = fault.New(fault.Invalid, "store: the catalog must be postgres://…, postgresql://… or sqlite:PATH")

// CatalogPath is the embedded catalog's SQLite file.
func (s Store) CatalogPath() string { return s.path("catalog.db") }

// JobsPath is the embedded job queue's SQLite file (River's tables): the rebuild jobs of a data
// directory whose catalog is SQLite. With a PostgreSQL catalog the jobs live in that database
// (JobsDSN).
func (s Store) JobsPath() string { return s.path("jobs.db") }

// JobsDSN is the PostgreSQL database that holds the job queue: the catalog's, when it is
// PostgreSQL; empty for the embedded queue at JobsPath.
func (s Store) JobsDSN() string {
	if postgres.IsDSN(s.CatalogDSN) {
		return s.CatalogDSN
	}
	return ""
}

// Work is where rebuild jobs unpack the registered specs they build, each in a temporary directory
// of its own (safefile.MkdirTemp), removed when the job ends or, after a kill, by the next sweep.
func (s Store) Work() string { return s.path("work") }

// Catalog opens the catalog (see CatalogDSN), migrating its schema to this binary's. The caller
// closes it.
func (s Store) Catalog(ctx context.Context) (catalog.Catalog, error) {
	var c *sqlstore.Store
	var err error
	switch dsn := s.CatalogDSN; {
	case dsn == "":
		if err := os.MkdirAll(s.Root, 0o755); err != nil {
			return nil, fmt.Errorf("catalog: %w", err)
		}
		c, err = sqlite.Open(ctx, s.CatalogPath())
	case postgres.IsDSN(dsn):
		c, err = postgres.Open(ctx, dsn)
	case strings.HasPrefix(dsn, "sqlite:") && len(dsn) > len("sqlite:"):
		c, err = sqlite.Open(ctx, strings.TrimPrefix(dsn, "sqlite:"))
	default:
		// Not repeated: a mistyped URL may carry a password.
		return nil, ErrCatalogDSN
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Layouts is the OCI layout store.
func (s Store) Layouts() publish.Layouts { return publish.Layouts{Root: s.path("oci")} }

// Packages is the content-addressed cache of .deb files.
func (s Store) Packages() *apt.Cache { return &apt.Cache{Dir: s.path("cache", "debs")} }

// Indexes is the cache of verified Packages indexes.
func (s Store) Indexes() *apt.Cache { return &apt.Cache{Dir: s.path("cache", "indexes")} }

// IndexTexts is the cache of decompressed Packages indexes, by the sha256 of the index.
func (s Store) IndexTexts() *apt.TextCache { return &apt.TextCache{Dir: s.path("cache", "texts")} }

// LegacyParsedIndexes is where ingot before lazy index reading kept every Packages index parsed;
// nothing reads it now, and fsck --repair removes it.
func (s Store) LegacyParsedIndexes() string { return s.path("cache", "parsed") }

// BuildCache is the directory mapping a build's inputs to the digest they produced.
func (s Store) BuildCache() string { return s.path("cache", "builds") }

// Inventories is the cache of image inventories, with the cache of layer analyses beside it.
func (s Store) Inventories() sbom.Cache {
	return sbom.Cache{Dir: s.path("cache", "inventories"), Layers: s.LayerAnalyses()}
}

// LayerAnalyses is the cache of what the evidence stages found in each layer, by what reading the
// layer proves it holds (imageref.ContentID; see layers.DirCache).
func (s Store) LayerAnalyses() layers.DirCache {
	return layers.DirCache{Dir: s.path("cache", "layers")}
}

// Signatures is the cache of signature material named by digest.
func (s Store) Signatures() string { return s.path("cache", "signatures") }

// VulnDB is the imported vulnerability data.
func (s Store) VulnDB() *vuln.DB { return &vuln.DB{Dir: s.path("vulndb")} }

// VMRoot holds the disks ingot host build made, by image name.
func (s Store) VMRoot() string { return s.path("vm") }

// VMDir is where ingot host build writes the disks of VM image name at tag: <data>/vm/<name>/<tag>/.
func (s Store) VMDir(name, tag string) string { return filepath.Join(s.VMRoot(), name, tag) }

// EvidenceRoot holds the evidence of every image, by name.
func (s Store) EvidenceRoot() string { return s.path("evidence") }

// EvidenceDir is where the evidence of image name at digest d is recorded.
func (s Store) EvidenceDir(name string, d v1.Hash) string {
	return filepath.Join(s.EvidenceRoot(), name, d.Hex)
}

// FindEvidence finds the evidence recorded for an image digest, under whatever name it was built.
func (s Store) FindEvidence(d v1.Hash) (string, error) {
	names, err := os.ReadDir(s.EvidenceRoot())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("reading evidence: %w", err)
	}
	for _, n := range names {
		if !n.IsDir() || safefile.IsTemp(n.Name()) {
			continue
		}
		dir := filepath.Join(s.EvidenceRoot(), n.Name(), d.Hex)
		if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
			return dir, nil
		}
	}
	return "", fmt.Errorf("%s: %w", d, ErrNoEvidence)
}

func (s Store) path(elem ...string) string {
	return filepath.Join(append([]string{s.Root}, elem...)...)
}

// tempDirs are the directories where ingot writes temporary files: every area, each layout and its
// blob directory, and each image name's evidence directory.
func (s Store) tempDirs() ([]string, error) {
	dirs := []string{
		s.Packages().Dir, filepath.Dir(s.Packages().Path("x")),
		s.Indexes().Dir, filepath.Dir(s.Indexes().Path("x")), s.IndexTexts().Dir,
		s.BuildCache(), s.Inventories().Dir, s.LayerAnalyses().Dir,
		s.Signatures(), filepath.Join(s.Signatures(), "sha256"),
		s.EvidenceRoot(), s.VulnDB().Dir, s.Work(), s.VMRoot(),
	}
	for _, parent := range []string{s.Layouts().Root, s.EvidenceRoot()} {
		entries, err := os.ReadDir(parent)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if !e.IsDir() || safefile.IsTemp(e.Name()) {
				continue
			}
			d := filepath.Join(parent, e.Name())
			dirs = append(dirs, d)
			if parent == s.Layouts().Root {
				dirs = append(dirs, filepath.Join(d, "blobs", "sha256"))
			}
		}
	}
	return dirs, nil
}

// Sweep removes what killed runs left behind: temporary files and directories whose process is gone
// (or that are older than safefile.MaxTempAge). It returns the paths it removed. Commands that write
// to the data directory sweep it first, so a kill -9 costs disk space only until the next run.
func (s Store) Sweep() ([]string, error) {
	dirs, err := s.tempDirs()
	if err != nil {
		return nil, fmt.Errorf("sweeping %s: %w", s.Root, err)
	}
	var removed []string
	var errs []error
	for _, d := range dirs {
		r, err := safefile.Sweep(d)
		removed = append(removed, r...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return removed, errors.Join(errs...)
}

// CachedBuild reads the build cache entry of a build's inputs: the digest they produced. It fails
// when there is no entry or the entry does not hold a digest.
func (s Store) CachedBuild(key string) (v1.Hash, error) {
	data, err := os.ReadFile(filepath.Join(s.BuildCache(), key))
	if err != nil {
		return v1.Hash{}, err
	}
	h, err := v1.NewHash(strings.TrimSpace(string(data)))
	if err != nil {
		return v1.Hash{}, fmt.Errorf("build cache entry %s: %w", key, err)
	}
	return h, nil
}

// RecordBuild records that a build's inputs produced the image digest d.
func (s Store) RecordBuild(key string, d v1.Hash) error {
	if err := os.MkdirAll(s.BuildCache(), 0o755); err != nil {
		return err
	}
	return safefile.Write(filepath.Join(s.BuildCache(), key), []byte(d.String()+"\n"), 0o644)
}
