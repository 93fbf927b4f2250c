package vuln

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ingot-build/ingot/pkg/fault"
)

// allocated runs f and returns how many bytes it allocated on the heap, all goroutines together.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// zeros is a reader of n zero bytes.
func zeros(n int64) io.Reader { return io.LimitReader(zeroReader{}, n) }

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// deflated compresses n zero bytes.
func deflated(t *testing.T, n int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, flate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(w, zeros(n)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// bombZip writes a zip of entries records, each n zero bytes deflated, whose directory declares
// declared bytes per entry (n when honest, less when it lies).
func bombZip(t *testing.T, path string, entries int, n int64, declared uint64) {
	t.Helper()
	data := deflated(t, n)
	crc := crc32.NewIEEE()
	if _, err := io.Copy(crc, zeros(n)); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for i := range entries {
		w, err := zw.CreateRaw(&zip.FileHeader{
			Name: fmt.Sprintf("BOMB-%d.json", i), Method: zip.Deflate,
			CRC32: crc.Sum32(), CompressedSize64: uint64(len(data)), UncompressedSize64: declared,
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestImportBudget imports archive bombs with a small budget: each is refused, quickly, without
// allocating anything near what it inflates to, as bad input, and the database keeps its data.
func TestImportBudget(t *testing.T) {
	const (
		budget  = 10 << 20
		entries = 5
		each    = 10 << 20 // 50 MiB of zeros in all, from about 50 KiB of zip
	)
	tmp := t.TempDir()
	honest := filepath.Join(tmp, "bomb.zip")
	bombZip(t, honest, entries, each, each)
	lying := filepath.Join(tmp, "liar.zip")
	bombZip(t, lying, entries, each, 100)
	// Zips inside a directory share one budget: three of 4 MiB each are 12 MiB.
	nested := filepath.Join(tmp, "nested")
	if err := os.Mkdir(nested, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		bombZip(t, filepath.Join(nested, fmt.Sprintf("part%d.zip", i)), 1, 4<<20, 4<<20)
	}
	if fi, err := os.Stat(honest); err != nil || fi.Size() > 1<<20 {
		t.Fatalf("the bomb is not small: %v %v", fi, err)
	}

	db := fixtureDB(t)
	st0, fs0, files0 := snapshot(t, db)
	for _, tc := range []struct {
		name, src string
		want      error
		mention   string
	}{
		{"declared sizes", honest, ErrTooLarge, "10 MiB"},
		{"sizes that lie", lying, ErrSource, "liar.zip!BOMB-"},
		{"zips in a directory", nested, ErrTooLarge, "10 MiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			start := time.Now()
			alloc := allocated(func() {
				_, err = db.Import(context.Background(), tc.src, ImportOptions{Name: "fixtures", MaxSize: budget})
			})
			t.Logf("%v in %v, %d bytes allocated", err, time.Since(start), alloc)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("import = %v, want %v naming %q", err, tc.want, tc.mention)
			}
			if fault.Of(err) != fault.Invalid {
				t.Errorf("kind = %v, want invalid input", fault.Of(err))
			}
			if alloc > 4<<20 {
				t.Errorf("refusing the bomb allocated %d bytes", alloc)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("refusing the bomb took %v", d)
			}
			st, fs, files := snapshot(t, db)
			if !reflect.DeepEqual(st, st0) || !reflect.DeepEqual(fs, fs0) || !reflect.DeepEqual(files, files0) {
				t.Error("a refused import changed the database")
			}
		})
	}

	// The same zips import with a budget that fits them: the limit, not the data, refused them.
	if _, err := db.Import(context.Background(), honest, ImportOptions{Name: "bomb", MaxSize: 64 << 20}); !errors.Is(err, ErrInvalidRecord) {
		t.Errorf("with room for it, the zip of zeros fails as records, not as size: %v", err)
	}
}

// TestBudgetCountsWhatIsRead gives the readers documents that declare nothing and inflate to more
// than the budget together, read in parallel: the budget counts the bytes, not the declarations.
func TestBudgetCountsWhatIsRead(t *testing.T) {
	const each = 256 << 10
	var docs []document
	for i := range 16 {
		rec := fmt.Sprintf(`{"id":"X-%d","affected":[{"package":{"ecosystem":"npm","name":"a"}}]}`, i)
		body := rec + strings.Repeat(" ", each-len(rec)) // valid JSON: only the size can fail
		docs = append(docs, document{name: fmt.Sprintf("X-%d.json", i), open: func() (io.ReadCloser, error) {
			return io.NopCloser(strings.NewReader(body)), nil
		}})
	}
	b := &budget{src: "test", limit: 1 << 20}
	if err := b.declared(docs); err != nil {
		t.Fatal(err)
	}
	_, err := readDocuments(context.Background(), docs, b)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "1 MiB") {
		t.Fatalf("reading 4 MiB with a 1 MiB budget: %v", err)
	}
	if used := b.used.Load(); used > 1<<20+int64(runtime.GOMAXPROCS(0))*each {
		t.Errorf("read %d bytes after the budget ran out", used)
	}
	b = &budget{src: "test", limit: 4 << 20}
	recs, err := readDocuments(context.Background(), docs, b)
	if err != nil || len(recs) != 16 {
		t.Fatalf("with room for them: %d records, %v", len(recs), err)
	}
}

// zip64Entries rewrites a zip's end of central directory to declare n entries through zip64 records.
func zip64Entries(t *testing.T, path string, n uint64) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	end := len(data) - zipEndLen
	if !bytes.HasPrefix(data[end:], []byte("PK\x05\x06")) {
		t.Fatal("the zip has a comment or no end record")
	}
	dirSize := binary.LittleEndian.Uint32(data[end+12:])
	dirOffset := binary.LittleEndian.Uint32(data[end+16:])
	out := append([]byte{}, data[:end]...)
	rec := make([]byte, zipEnd64Len)
	copy(rec, "PK\x06\x06")
	binary.LittleEndian.PutUint64(rec[4:], zipEnd64Len-12)
	binary.LittleEndian.PutUint64(rec[24:], n)
	binary.LittleEndian.PutUint64(rec[32:], n)
	binary.LittleEndian.PutUint64(rec[40:], uint64(dirSize))
	binary.LittleEndian.PutUint64(rec[48:], uint64(dirOffset))
	loc := make([]byte, zipEnd64LocLen)
	copy(loc, "PK\x06\x07")
	binary.LittleEndian.PutUint64(loc[8:], uint64(end))
	binary.LittleEndian.PutUint32(loc[16:], 1)
	eocd := append([]byte{}, data[end:]...)
	binary.LittleEndian.PutUint16(eocd[8:], 0xffff)
	binary.LittleEndian.PutUint16(eocd[10:], 0xffff)
	out = append(append(append(out, rec...), loc...), eocd...)
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestZipEntryCount(t *testing.T) {
	tmp := t.TempDir()
	files := map[string][]byte{}
	for i := range 1000 {
		files[fmt.Sprintf("X-%d.json", i)] = []byte(fmt.Sprintf(`{"id":"X-%d","affected":[{"package":{"ecosystem":"npm","name":"a"}}]}`, i))
	}
	plain := filepath.Join(tmp, "plain.zip")
	writeZip(t, plain, files)
	bound := func(path string) uint64 {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		fi, _ := f.Stat()
		n, ok := zipEntryBound(f, fi.Size())
		if !ok {
			t.Fatalf("no end record found in %s", path)
		}
		return n
	}
	if n := bound(plain); n < 1000 || n > 3000 {
		t.Errorf("bound of a zip of 1000 entries = %d", n)
	}
	// A count that understates what the directory holds does not lower the bound: archive/zip reads
	// every header there is.
	data, _ := os.ReadFile(plain)
	binary.LittleEndian.PutUint16(data[len(data)-zipEndLen+8:], 1)
	binary.LittleEndian.PutUint16(data[len(data)-zipEndLen+10:], 1)
	understated := filepath.Join(tmp, "understated.zip")
	if err := os.WriteFile(understated, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if n := bound(understated); n < 1000 {
		t.Errorf("bound of 1000 entries declared as 1 = %d", n)
	}

	// What the source's other zips hold counts too.
	if _, err := openZip(plain, 999); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "other zips") {
		t.Errorf("a zip of 1000 entries with 999 left: %v", err)
	}
	if zr, err := openZip(plain, 5000); err != nil {
		t.Errorf("a zip of 1000 entries with 5000 left: %v", err)
	} else {
		_ = zr.Close()
	}

	// A zip declaring an absurd count is refused before archive/zip reads its directory.
	absurd := filepath.Join(tmp, "absurd.zip")
	writeZip(t, absurd, map[string][]byte{"X-1.json": files["X-1.json"]})
	zip64Entries(t, absurd, 20_000_000)
	if n := bound(absurd); n != 20_000_000 {
		t.Fatalf("bound of the zip64 record = %d", n)
	}
	db := &DB{Dir: t.TempDir()}
	var err error
	alloc := allocated(func() { _, err = db.Import(context.Background(), absurd, ImportOptions{}) })
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "10000000") {
		t.Fatalf("import of a zip declaring 20M entries: %v", err)
	}
	if alloc > 1<<20 {
		t.Errorf("refusing it allocated %d bytes", alloc)
	}
	// The zip64 rewrite itself is sound: with an honest count the same zip imports.
	honest := filepath.Join(tmp, "honest.zip")
	writeZip(t, honest, map[string][]byte{"X-1.json": files["X-1.json"]})
	zip64Entries(t, honest, 1)
	if _, err := db.Import(context.Background(), honest, ImportOptions{}); err != nil {
		t.Fatalf("a zip64 end record with the true count: %v", err)
	}
}
