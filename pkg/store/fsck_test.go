package store_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ingot-build/ingot/pkg/fault"
	"github.com/ingot-build/ingot/pkg/publish"
	"github.com/ingot-build/ingot/pkg/sbom"
	"github.com/ingot-build/ingot/pkg/store"
	"github.com/ingot-build/ingot/pkg/vuln"
)

const advisory = `{"id": "OSV-1", "modified": "2024-05-01T00:00:00Z",
 "affected": [{"package": {"ecosystem": "Debian", "name": "foo"},
  "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2"}]}]}]}`

// fixture is a data directory with something in every area: two layouts sharing an image, a second
// image only in layout "a", a package, an index and a signature cache entry, an inventory, a build
// cache entry, recorded evidence and an imported vulnerability database.
type fixture struct {
	st            store.Store
	shared, alone v1.Image
	deb, sig      string // cache entry paths
	text          string // a cached index text
	inventory     string
	build         string
	evidence      string
	vulnIndex     string
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	ctx := context.Background()
	f := fixture{st: store.Store{Root: t.TempDir()}}
	image := func() v1.Image {
		img, err := random.Image(2048, 2)
		if err != nil {
			t.Fatal(err)
		}
		return mutate.MediaType(img, types.OCIManifestSchema1)
	}
	f.shared, f.alone = image(), image()
	ls := f.st.Layouts()
	for _, w := range []struct {
		name, tag string
		img       v1.Image
	}{{"a", "1", f.shared}, {"b", "1", f.shared}, {"a", "2", f.alone}} {
		if _, err := ls.Write(ctx, w.name, w.tag, publish.Artifact{Image: w.img}); err != nil {
			t.Fatal(err)
		}
	}
	entry := func(dir string, data []byte) string {
		sum := sha256.Sum256(data)
		p := filepath.Join(dir, hex.EncodeToString(sum[:]))
		writeFile(t, p, data)
		return p
	}
	f.deb = entry(filepath.Dir(f.st.Packages().Path("x")), []byte("!<arch>\ndebian-binary fake\n"))
	entry(filepath.Dir(f.st.Indexes().Path("x")), []byte("Package: foo\nVersion: 1\n"))
	f.sig = entry(filepath.Join(f.st.Signatures(), "sha256"), []byte(`{"critical":{}}`))
	indexSHA := strings.Repeat("ab", 32)
	if err := f.st.IndexTexts().Save(indexSHA, []byte("Package: foo\nVersion: 1\nArchitecture: all\n")); err != nil {
		t.Fatal(err)
	}
	f.text = f.st.IndexTexts().Path(indexSHA)

	shared, err := publish.Layouts{Root: ls.Root}.Read("a", "1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.Inventories().Inventory(ctx, shared.Image, sbom.Options{}); err != nil {
		t.Fatal(err)
	}
	invs, _ := os.ReadDir(f.st.Inventories().Dir)
	f.inventory = filepath.Join(f.st.Inventories().Dir, invs[0].Name())

	d, _ := f.shared.Digest()
	if err := f.st.RecordBuild("0123abcd", d); err != nil {
		t.Fatal(err)
	}
	f.build = filepath.Join(f.st.BuildCache(), "0123abcd")
	f.evidence = filepath.Join(f.st.EvidenceDir("a", d), "lint.json")
	writeFile(t, f.evidence, []byte(`{"findings": []}`))

	osv := t.TempDir()
	writeFile(t, filepath.Join(osv, "a.json"), []byte(advisory))
	if _, err := f.st.VulnDB().Import(ctx, osv, vuln.ImportOptions{Name: "fixture"}); err != nil {
		t.Fatal(err)
	}
	paths, _ := filepath.Glob(filepath.Join(f.st.VulnDB().Dir, "fixture*"))
	f.vulnIndex = paths[0]

	cat, err := f.st.Catalog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := cat.Close(); err != nil {
		t.Fatal(err)
	}
	return f
}

// catalogSQL runs statements on the embedded catalog's file directly.
func catalogSQL(t *testing.T, f fixture, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", f.st.CatalogPath())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }() // the statements ran or failed the test
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
}

func writeFile(t *testing.T, p string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func flip(t *testing.T, p string) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x01
	writeFile(t, p, b)
}

func blob(f fixture, name string, h v1.Hash) string {
	return filepath.Join(f.st.Layouts().Dir(name), "blobs", "sha256", h.Hex)
}

func layer(t *testing.T, img v1.Image, i int) v1.Hash {
	t.Helper()
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	d, err := ls[i].Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func fsck(t *testing.T, st store.Store, repair bool) *store.FsckReport {
	t.Helper()
	r, err := st.Fsck(context.Background(), store.FsckOptions{Repair: repair})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestFsck damages one thing at a time and checks that fsck reports it with its path and kind, that
// --repair repairs what can be and says how to repair the rest, and what a second run finds.
func TestFsck(t *testing.T) {
	for _, tc := range []struct {
		name       string
		damage     func(t *testing.T, f fixture) string // returns the path to be reported
		kind       string
		repairable bool
		// after checks the data directory after the repair.
		after func(t *testing.T, f fixture, path string)
	}{
		{"shared layer bit flip", func(t *testing.T, f fixture) string {
			p := blob(f, "a", layer(t, f.shared, 0))
			flip(t, p)
			return p
		}, store.KindDamaged, true, hashesToName},
		{"shared layer swapped", func(t *testing.T, f fixture) string {
			p := blob(f, "b", layer(t, f.shared, 1))
			other, _ := os.ReadFile(blob(f, "a", layer(t, f.alone, 0)))
			writeFile(t, p, other)
			return p
		}, store.KindDamaged, true, hashesToName},
		{"shared manifest missing", func(t *testing.T, f fixture) string {
			d, _ := f.shared.Digest()
			p := blob(f, "a", d)
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			return p
		}, store.KindMissing, true, hashesToName},
		{"layer no other layout holds", func(t *testing.T, f fixture) string {
			p := blob(f, "a", layer(t, f.alone, 1))
			flip(t, p)
			return p
		}, store.KindDamaged, false, nil},
		{"damaged .deb", func(t *testing.T, f fixture) string { flip(t, f.deb); return f.deb }, store.KindDamaged, true, gone},
		{"damaged signature material", func(t *testing.T, f fixture) string { flip(t, f.sig); return f.sig }, store.KindDamaged, true, gone},
		{"damaged index text", func(t *testing.T, f fixture) string { flip(t, f.text); return f.text }, store.KindDamaged, true, gone},
		{"parsed indexes of an earlier ingot", func(t *testing.T, f fixture) string {
			old := f.st.LegacyParsedIndexes()
			writeFile(t, filepath.Join(old, "v1", strings.Repeat("ab", 32)), []byte("a parsed index"))
			return old
		}, store.KindStale, true, gone},
		{"stale temporary file", func(t *testing.T, f fixture) string {
			p := filepath.Join(f.st.Layouts().Dir("a"), "blobs", "sha256", ".blob.tmp-"+deadPid(t)+"-1")
			writeFile(t, p, []byte("half a blob"))
			return p
		}, store.KindTemporary, true, gone},
		{"malformed inventory", func(t *testing.T, f fixture) string {
			writeFile(t, f.inventory, []byte("{"))
			return f.inventory
		}, store.KindMalformed, true, gone},
		{"inventory of another ingot", func(t *testing.T, f fixture) string {
			p := filepath.Join(filepath.Dir(f.inventory), strings.Repeat("0", 64)+".json")
			data, _ := os.ReadFile(f.inventory)
			writeFile(t, p, data)
			return p
		}, store.KindStale, true, gone},
		{"orphaned build-cache entry", func(t *testing.T, f fixture) string {
			if err := f.st.RecordBuild("feedface", v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("e", 64)}); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(f.st.BuildCache(), "feedface")
		}, store.KindStale, true, gone},
		{"malformed evidence", func(t *testing.T, f fixture) string {
			writeFile(t, f.evidence, []byte(`{"findings": [`))
			return f.evidence
		}, store.KindMalformed, false, func(t *testing.T, f fixture, _ string) {
			// The build cache no longer says the image is done, so the next build records it again.
			if _, err := os.Stat(f.build); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the build-cache entry of the image with damaged evidence is still there")
			}
		}},
		{"catalog that is not a database", func(t *testing.T, f fixture) string {
			writeFile(t, f.st.CatalogPath(), []byte("SQLite format 2\x00 and then nothing"))
			return f.st.CatalogPath()
		}, store.KindMalformed, false, nil},
		{"catalog of a newer ingot", func(t *testing.T, f fixture) string {
			catalogSQL(t, f, "INSERT INTO schema_migrations (version, name, applied) VALUES (99, '0099_future.sql', 0)")
			return f.st.CatalogPath()
		}, store.KindStale, false, nil},
		{"catalog with a damaged index", func(t *testing.T, f fixture) string {
			catalogSQL(t, f, "PRAGMA journal_mode=DELETE")
			db, err := sql.Open("sqlite", f.st.CatalogPath())
			if err != nil {
				t.Fatal(err)
			}
			var root, size int64
			err = errors.Join(db.QueryRow("SELECT rootpage FROM sqlite_master WHERE name = 'events_image'").Scan(&root),
				db.QueryRow("PRAGMA page_size").Scan(&size), db.Close())
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(f.st.CatalogPath())
			if err != nil {
				t.Fatal(err)
			}
			copy(b[(root-1)*size:], strings.Repeat("\xff", 16)) // the page header: no longer a b-tree page
			writeFile(t, f.st.CatalogPath(), b)
			return f.st.CatalogPath()
		}, store.KindDamaged, false, nil},
		{"corrupt vulnerability index", func(t *testing.T, f fixture) string {
			writeFile(t, f.vulnIndex, []byte("not an index"))
			return f.vulnIndex
		}, store.KindMalformed, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			if r := fsck(t, f.st, false); len(r.Problems) != 0 || r.Err() != nil {
				t.Fatalf("a fresh data directory: %+v", r.Problems)
			}
			path := tc.damage(t, f)
			r := fsck(t, f.st, false)
			if len(r.Problems) != 1 || r.Problems[0].Path != path || r.Problems[0].Kind != tc.kind || r.Problems[0].Repaired {
				t.Fatalf("fsck found %+v, want one %s problem at %s", r.Problems, tc.kind, path)
			}
			if err := r.Err(); !errors.Is(err, store.ErrDamaged) || fault.Of(err) != fault.Integrity {
				t.Errorf("Err = %v, want ErrDamaged", err)
			}

			r = fsck(t, f.st, true)
			if len(r.Problems) != 1 || r.Problems[0].Repaired != tc.repairable || r.Problems[0].Action == "" {
				t.Fatalf("fsck --repair: %+v, want repaired=%v with an action", r.Problems, tc.repairable)
			}
			if !tc.repairable && !strings.Contains(r.Problems[0].Action, "cannot be repaired here") {
				t.Errorf("action %q does not say it cannot be repaired", r.Problems[0].Action)
			}
			if (r.Err() == nil) != tc.repairable {
				t.Errorf("Err after the repair = %v", r.Err())
			}
			if tc.after != nil {
				tc.after(t, f, path)
			}
			again := fsck(t, f.st, false)
			if tc.repairable && len(again.Problems) != 0 {
				t.Errorf("a second fsck finds %+v", again.Problems)
			}
			if !tc.repairable && (len(again.Problems) != 1 || again.Problems[0].Path != path) {
				t.Errorf("a second fsck finds %+v, want the problem that could not be repaired", again.Problems)
			}
		})
	}
}

func hashesToName(t *testing.T, _ fixture, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != filepath.Base(path) {
		t.Errorf("%s does not hash to its name after the repair", path)
	}
}

func gone(t *testing.T, _ fixture, path string) {
	t.Helper()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s is still there after the repair", path)
	}
}
