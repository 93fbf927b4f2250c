package vuln

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/fault"
)

// fixtureCounts is what importing testdata/osv stores.
var fixtureCounts = map[string]int{
	"Debian:12": 11, "Debian": 1, "Debian:11": 1, "Ubuntu:22.04:LTS": 1, "Alpine:v3.19": 3, "Alpine:v3.18": 1, "npm": 3, "PyPI": 3,
}

// writeZip writes the given files (zip name → file on disk or literal content) to a zip.
func writeZip(t *testing.T, path string, files map[string][]byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for name, data := range files {
		w, err := zw.Create(name)
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

// fixtureFiles reads testdata/osv/<dir>/*.json (all of it for dir ""), keyed by base name.
func fixtureFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	matches, err := filepath.Glob(filepath.Join("testdata/osv", dir, "*.json"))
	if dir == "" {
		matches, err = filepath.Glob("testdata/osv/*/*.json")
	}
	if err != nil || len(matches) == 0 {
		t.Fatalf("no fixtures in %s: %v", dir, err)
	}
	for _, m := range matches {
		data, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		files[filepath.Base(m)] = data
	}
	return files
}

func TestImportLayouts(t *testing.T) {
	tmp := t.TempDir()
	writeZip(t, filepath.Join(tmp, "fixtures.zip"), fixtureFiles(t, ""))
	// osv-scanner's offline layout: one all.zip per ecosystem. A record spanning ecosystems sits in
	// each zip; here the lodash record is in both npm and PyPI, and is counted once.
	tree := filepath.Join(tmp, "osv-scanner")
	for eco, dir := range map[string]string{"Debian": "debian", "Ubuntu": "ubuntu", "Alpine": "alpine", "npm": "npm", "PyPI": "pypi"} {
		files := fixtureFiles(t, dir)
		if eco == "PyPI" {
			files["GHSA-35jh-r3h4-6jhm.json"] = fixtureFiles(t, "npm")["GHSA-35jh-r3h4-6jhm.json"]
		}
		writeZip(t, filepath.Join(tree, eco, "all.zip"), files)
	}
	// A directory with an unrelated file and a hidden directory, both ignored.
	plain := filepath.Join(tmp, "plain")
	if err := os.CopyFS(plain, os.DirFS("testdata/osv")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(plain, "README.md"), []byte("not a record"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(plain, ".git"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(plain, ".git", "broken.json"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct {
		name, src, wantName string
	}{
		{"directory", plain, "plain"},
		{"zip", filepath.Join(tmp, "fixtures.zip"), "fixtures"},
		{"osv-scanner tree", tree, "osv-scanner"},
		{"single ecosystem zip", filepath.Join(tree, "npm", "all.zip"), "npm"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			db := &DB{Dir: filepath.Join(t.TempDir(), "vulndb")}
			before := time.Now().Add(-time.Second)
			stats, err := db.Import(context.Background(), tt.src, ImportOptions{})
			if err != nil {
				t.Fatal(err)
			}
			want := ImportStats{Source: tt.wantName, Records: 24, Withdrawn: 1, Ecosystems: fixtureCounts}
			if tt.name == "single ecosystem zip" {
				want = ImportStats{Source: "npm", Records: 3, Ecosystems: map[string]int{"npm": 3}}
			}
			if !reflect.DeepEqual(stats, want) {
				t.Errorf("stats = %+v\nwant %+v", stats, want)
			}
			st, err := db.Status()
			if err != nil {
				t.Fatal(err)
			}
			if len(st.Sources) != 1 {
				t.Fatalf("status = %+v", st)
			}
			s := st.Sources[0]
			abs, _ := filepath.Abs(tt.src)
			if s.Name != tt.wantName || s.Origin != abs || s.Records != want.Records || s.Withdrawn != want.Withdrawn ||
				s.Imported.Before(before) || !s.Modified.Equal(time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)) {
				t.Errorf("source status = %+v", s)
			}
			counts := map[string]int{}
			for _, e := range s.Ecosystems {
				counts[e.Name] = e.Records
			}
			if !reflect.DeepEqual(counts, want.Ecosystems) {
				t.Errorf("status ecosystems = %v, want %v", counts, want.Ecosystems)
			}
		})
	}
}

func TestImportKeepsNewestCopy(t *testing.T) {
	tmp := t.TempDir()
	rec := func(modified, fixed string) []byte {
		return []byte(`{"id":"GHSA-1111-2222-3333","modified":"` + modified + `","affected":[{"package":{"ecosystem":"npm","name":"pkg"},
			"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"` + fixed + `"}]}]}]}`)
	}
	writeZip(t, filepath.Join(tmp, "src", "a", "all.zip"), map[string][]byte{"GHSA-1111-2222-3333.json": rec("2024-05-01T00:00:00Z", "2.0.0")})
	writeZip(t, filepath.Join(tmp, "src", "b", "all.zip"), map[string][]byte{"GHSA-1111-2222-3333.json": rec("2024-01-01T00:00:00Z", "1.5.0")})
	db := &DB{Dir: filepath.Join(tmp, "vulndb")}
	stats, err := db.Import(context.Background(), filepath.Join(tmp, "src"), ImportOptions{Name: "dups"})
	if err != nil {
		t.Fatal(err)
	}
	if stats.Records != 1 {
		t.Errorf("records = %d, want 1", stats.Records)
	}
	fs, err := db.Match(context.Background(), &evidence.Inventory{Packages: []evidence.Package{{Name: "pkg", Version: "1.6.0", Type: evidence.TypeNPM}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 || fs[0].FixedVersion != "2.0.0" {
		t.Errorf("findings = %+v, want the newer record's fix 2.0.0", fs)
	}
}

// snapshot is what a failed import must leave unchanged.
func snapshot(t *testing.T, db *DB) (Status, []evidence.Finding, []string) {
	t.Helper()
	st, err := db.Status()
	if err != nil {
		t.Fatal(err)
	}
	fs, err := db.Match(context.Background(), &evidence.Inventory{
		Distro:   &evidence.Distro{ID: "debian", VersionID: "12"},
		Packages: []evidence.Package{{Name: "libssl3", Version: "3.0.11-1~deb12u2", Type: evidence.TypeDeb, Source: "openssl"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(db.Dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return st, fs, names
}

func TestImportFailureChangesNothing(t *testing.T) {
	tmp := t.TempDir()
	good := `{"id":"X-1","affected":[{"package":{"ecosystem":"npm","name":"a"}}]}`
	corruptZip := filepath.Join(tmp, "corrupt.zip")
	if err := os.WriteFile(corruptZip, []byte("PK\x03\x04 this is not a zip"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A zip whose entry fails its checksum.
	badCRC := filepath.Join(tmp, "badcrc.zip")
	writeZip(t, badCRC, map[string][]byte{"X-1.json": []byte(good)})
	data, _ := os.ReadFile(badCRC)
	i := strings.Index(string(data), `"X-1"`)
	data[i+1] = 'Y'
	if err := os.WriteFile(badCRC, data, 0o644); err != nil {
		t.Fatal(err)
	}
	// Random bytes, a zip cut in half, a zip with no entries, a zip holding something that is not JSON.
	random := filepath.Join(tmp, "random.zip")
	if err := os.WriteFile(random, bytes.Repeat([]byte{0x5a, 0x17, 0xc3, 0x80}, 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(tmp, "truncated.zip")
	writeZip(t, truncated, map[string][]byte{"X-1.json": []byte(good), "X-2.json": []byte(strings.Replace(good, "X-1", "X-2", 1))})
	data, _ = os.ReadFile(truncated)
	if err := os.WriteFile(truncated, data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	emptyZip := filepath.Join(tmp, "empty.zip")
	writeZip(t, emptyZip, nil)
	notJSON := filepath.Join(tmp, "notjson.zip")
	writeZip(t, notJSON, map[string][]byte{"X-1.json": []byte("GIF89a\x01\x00")})
	records := map[string]string{
		"no-id":        `{"affected":[{"package":{"ecosystem":"npm","name":"a"}}]}`,
		"no-affected":  `{"id":"X-2"}`,
		"bad-json":     `{"id":"X-3",`,
		"wrong-type":   `{"id":"X-4","affected":"npm"}`,
		"two-kinds":    `{"id":"X-5","affected":[{"package":{"ecosystem":"npm","name":"a"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0","fixed":"1.0.0"}]}]}]}`,
		"no-events":    `{"id":"X-6","affected":[{"package":{"ecosystem":"npm","name":"a"},"ranges":[{"type":"SEMVER","events":[]}]}]}`,
		"no-name":      `{"id":"X-7","affected":[{"package":{"ecosystem":"npm"}}]}`,
		"empty-event":  `{"id":"X-8","affected":[{"package":{"ecosystem":"npm","name":"a"},"ranges":[{"type":"SEMVER","events":[{"fixed":""}]}]}]}`,
		"no-type":      `{"id":"X-9","affected":[{"package":{"ecosystem":"npm","name":"a"},"ranges":[{"events":[{"introduced":"0"}]}]}]}`,
		"spaces-in-id": `{"id":" X-10","affected":[{"package":{"ecosystem":"npm","name":"a"}}]}`,
	}
	tests := []struct {
		name, src string
		want      error
		mention   string
	}{
		{"corrupt zip", corruptZip, ErrSource, "corrupt.zip"},
		{"bad checksum", badCRC, ErrSource, "badcrc.zip!X-1.json"},
		{"missing", filepath.Join(tmp, "nothing-here"), os.ErrNotExist, "nothing-here"},
		{"empty directory", t.TempDir(), ErrNoRecords, ""},
		{"not osv", filepath.Join("testdata", "..", "doc.go"), ErrSource, "want a directory, a .zip or a .json"},
		{"random bytes named .zip", random, ErrSource, "random.zip is not a valid zip"},
		{"truncated zip", truncated, ErrSource, "truncated.zip is not a valid zip"},
		{"empty zip", emptyZip, ErrNoRecords, "empty.zip"},
		{"zip of a non-JSON entry", notJSON, ErrInvalidRecord, "notjson.zip!X-1.json"},
	}
	for name, body := range records {
		dir := filepath.Join(tmp, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		// One good record beside the bad one: the whole import still fails.
		if err := os.WriteFile(filepath.Join(dir, "good.json"), []byte(good), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".json"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		tests = append(tests, struct {
			name, src string
			want      error
			mention   string
		}{"record " + name, dir, ErrInvalidRecord, name + ".json"})
	}

	db := fixtureDB(t)
	st0, fs0, files0 := snapshot(t, db)
	if len(fs0) == 0 {
		t.Fatal("fixture data matched nothing")
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := db.Import(context.Background(), tt.src, ImportOptions{Name: "fixtures"})
			if err == nil {
				t.Fatal("import succeeded")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("error %v is not %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("error %q does not name %q", err, tt.mention)
			}
			// Every one is bad input: the CLI exits 2 for each.
			if k := fault.Of(err); k != fault.Invalid {
				t.Errorf("kind = %v, want invalid input", k)
			}
			st, fs, files := snapshot(t, db)
			if !reflect.DeepEqual(st, st0) || !reflect.DeepEqual(fs, fs0) || !reflect.DeepEqual(files, files0) {
				t.Errorf("a failed import changed the database:\n%+v\n%+v\nfiles %v -> %v", st0, st, files0, files)
			}
		})
	}
}

func TestImportReplacesAndAddsSources(t *testing.T) {
	db := fixtureDB(t)
	tmp := t.TempDir()
	writeZip(t, filepath.Join(tmp, "more.zip"), map[string][]byte{
		"GHSA-9999-9999-9999.json": []byte(`{"id":"GHSA-9999-9999-9999","modified":"2025-01-02T03:04:05Z","aliases":["CVE-2021-23337"],
			"affected":[{"package":{"ecosystem":"npm","name":"lodash"},"ranges":[{"type":"SEMVER","events":[{"introduced":"4.0.0"},{"fixed":"4.17.22"}]}]}]}`),
	})
	if _, err := db.Import(context.Background(), filepath.Join(tmp, "more.zip"), ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	st, err := db.Status()
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Sources) != 2 || st.Sources[0].Name != "fixtures" || st.Sources[1].Name != "more" ||
		!st.Sources[1].Modified.Equal(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Fatalf("status = %+v", st)
	}
	// Both sources are read; the records share a CVE and merge, the higher fix wins.
	fs, err := db.Match(context.Background(), &evidence.Inventory{Packages: []evidence.Package{{Name: "lodash", Version: "4.17.20", Type: evidence.TypeNPM}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 || fs[0].ID != "GHSA-35jh-r3h4-6jhm" || strings.Join(fs[0].Aliases, ",") != "CVE-2021-23337,GHSA-9999-9999-9999" || fs[0].FixedVersion != "4.17.22" || fs[0].Severity != evidence.SeverityHigh {
		t.Errorf("findings = %+v", fs)
	}
	// Importing under the same name replaces the source.
	writeZip(t, filepath.Join(tmp, "other", "more.zip"), map[string][]byte{"X-1.json": []byte(`{"id":"X-1","affected":[{"package":{"ecosystem":"Go","name":"m"}}]}`)})
	stats, err := db.Import(context.Background(), filepath.Join(tmp, "other", "more.zip"), ImportOptions{})
	if err != nil || stats.Source != "more" || stats.Records != 1 {
		t.Fatalf("re-import: %+v, %v", stats, err)
	}
	fs, err = db.Match(context.Background(), &evidence.Inventory{Packages: []evidence.Package{{Name: "lodash", Version: "4.17.20", Type: evidence.TypeNPM}}})
	if err != nil || len(fs) != 1 || len(fs[0].Aliases) != 1 {
		t.Errorf("after replacing: %+v, %v", fs, err)
	}
}

func TestSourceNames(t *testing.T) {
	for src, want := range map[string]string{
		"/data/vuln/Go/all.zip":     "Go",
		"ghsa.zip":                  "ghsa",
		"/srv/osv-scanner/":         "osv-scanner",
		"./GHSA-xxxx.json":          "GHSA-xxxx",
		"/tmp/Debian:12/all.zip":    "Debian-12",
		"/mirror/my data set":       "my-data-set",
		"/mirror/.hidden/osv files": "osv-files",
	} {
		if got := defaultSourceName(src); got != want {
			t.Errorf("defaultSourceName(%q) = %q, want %q", src, got, want)
		}
		if err := checkSourceName(defaultSourceName(src)); err != nil {
			t.Errorf("default name of %q rejected: %v", src, err)
		}
	}
	for _, bad := range []string{"", ".hidden", "-x", "a/b", "../x", "a b", "x:y", strings.Repeat("a", 101)} {
		if err := checkSourceName(bad); !errors.Is(err, ErrSourceName) {
			t.Errorf("checkSourceName(%q) = %v", bad, err)
		}
	}
	db := &DB{Dir: t.TempDir()}
	if _, err := db.Import(context.Background(), "testdata/osv", ImportOptions{Name: "../escape"}); !errors.Is(err, ErrSourceName) {
		t.Errorf("import with name ../escape: %v", err)
	}
}

// mirror serves an osv.dev-like bucket from dir and counts requests.
func mirror(t *testing.T, dir string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	fs := http.FileServer(http.Dir(dir))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		fs.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func TestUpdate(t *testing.T) {
	bucket := t.TempDir()
	writeZip(t, filepath.Join(bucket, "npm", "all.zip"), fixtureFiles(t, "npm"))
	writeZip(t, filepath.Join(bucket, "Debian:12", "all.zip"), fixtureFiles(t, "debian"))
	writeZip(t, filepath.Join(bucket, "broken", "all.zip"), map[string][]byte{"X.json": []byte("{")})
	srv, requests := mirror(t, bucket)
	db := &DB{Dir: filepath.Join(t.TempDir(), "vulndb")}
	ctx := context.Background()

	if _, err := db.Update(ctx, srv.URL, nil, UpdateOptions{Client: srv.Client()}); !errors.Is(err, ErrNoEcosystems) {
		t.Fatalf("update without ecosystems: %v", err)
	}
	stats, err := db.Update(ctx, srv.URL+"/", []string{"npm", "Debian:12", "npm"}, UpdateOptions{Client: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	if stats.Source != UpdateSource || stats.Records != 16 || stats.Ecosystems["npm"] != 3 || stats.Ecosystems["Debian:12"] != 11 {
		t.Errorf("stats = %+v", stats)
	}
	if got := requests.Load(); got != 2 {
		t.Errorf("%d requests, want 2", got)
	}
	st, _, _ := snapshot(t, db)
	if len(st.Sources) != 1 || st.Sources[0].Origin != srv.URL || !reflect.DeepEqual(st.Sources[0].Requested, []string{"npm", "Debian:12"}) {
		t.Errorf("status = %+v", st)
	}

	// Without ecosystems, an update fetches the previous ones again.
	if _, err := db.Update(ctx, srv.URL, nil, UpdateOptions{Client: srv.Client()}); err != nil {
		t.Fatal(err)
	}
	if got := requests.Load(); got != 4 {
		t.Errorf("%d requests, want 4", got)
	}

	// A missing ecosystem, a broken record or a bad URL fails and keeps the data.
	st0, fs0, files0 := snapshot(t, db)
	for _, c := range []struct {
		url     string
		ecos    []string
		mention string
	}{
		{srv.URL, []string{"npm", "NoSuchEcosystem"}, "404"},
		{srv.URL, []string{"broken"}, "X.json"},
		{"ftp://mirror.invalid/osv", []string{"npm"}, "want an http or https URL"},
		{"not a url", []string{"npm"}, "want an http or https URL"},
	} {
		_, err := db.Update(ctx, c.url, c.ecos, UpdateOptions{Client: srv.Client()})
		if err == nil || !strings.Contains(err.Error(), c.mention) {
			t.Errorf("update %s %v: %v, want an error mentioning %q", c.url, c.ecos, err, c.mention)
		}
		st, fs, files := snapshot(t, db)
		if !reflect.DeepEqual(st, st0) || !reflect.DeepEqual(fs, fs0) || !reflect.DeepEqual(files, files0) {
			t.Errorf("a failed update changed the database: files %v -> %v", files0, files)
		}
	}

	// The size limit bounds the downloads too: a zip larger than it is not even stored.
	_, err = db.Update(ctx, srv.URL, []string{"npm"}, UpdateOptions{Client: srv.Client(), MaxSize: 100})
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "npm/all.zip") {
		t.Errorf("update over the limit: %v", err)
	}
	if st, _, _ := snapshot(t, db); !reflect.DeepEqual(st, st0) {
		t.Error("an update over the limit changed the database")
	}
}

func TestCorruptIndex(t *testing.T) {
	db := fixtureDB(t)
	path := db.sourcePath("fixtures")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	inv := &evidence.Inventory{Distro: &evidence.Distro{ID: "debian", VersionID: "12"}, Packages: []evidence.Package{
		{Name: "libssl3", Version: "3.0.11-1~deb12u2", Type: evidence.TypeDeb, Source: "openssl"},
		{Name: "lodash", Version: "4.17.20", Type: evidence.TypeNPM},
	}}
	for name, mutate := range map[string]func([]byte) []byte{
		"magic":     func(b []byte) []byte { b[0] = 'X'; return b },
		"truncated": func(b []byte) []byte { return b[:len(b)-200] },
		"header":    func(b []byte) []byte { b[len(indexMagic)+6] = '!'; return b },
	} {
		if err := os.WriteFile(path, mutate(append([]byte(nil), data...)), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Match(context.Background(), inv); !errors.Is(err, ErrCorruptIndex) {
			t.Errorf("%s: Match = %v, want ErrCorruptIndex", name, err)
		}
	}
}

// TestIndexFormat: an index written in an older format (1 had no ratings table) is not read as if it
// were damaged, nor half-read: scans fail with ErrIndexFormat, saying which command imports it again.
func TestIndexFormat(t *testing.T) {
	db := fixtureDB(t)
	path := db.sourcePath("fixtures")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(indexMagic)] = 1
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	inv := &evidence.Inventory{Packages: []evidence.Package{{Name: "lodash", Version: "4.17.20", Type: evidence.TypeNPM}}}
	_, err = db.Match(context.Background(), inv)
	if !errors.Is(err, ErrIndexFormat) || errors.Is(err, ErrCorruptIndex) {
		t.Fatalf("Match = %v, want ErrIndexFormat", err)
	}
	if want := "ingot db import --name fixtures " + filepath.Join(mustAbs(t, "testdata"), "osv"); !strings.Contains(err.Error(), want) {
		t.Errorf("Match = %v, want it to say %q", err, want)
	}
	if bad, err := db.Check(); err != nil || !errors.Is(bad[path], ErrIndexFormat) {
		t.Errorf("Check = %v, %v", bad, err)
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestIndexFormat2 reads an index an earlier ingot wrote (format 2, testdata/format2: the Debian
// fixtures imported by the ingot of issue 9): it still matches, and its findings have no
// publication date, which only format 3 records.
func TestIndexFormat2(t *testing.T) {
	data, err := os.ReadFile("testdata/format2/format2.vdb")
	if err != nil {
		t.Fatal(err)
	}
	if data[len(indexMagic)] != 2 {
		t.Fatalf("fixture is format %d, want 2", data[len(indexMagic)])
	}
	db := &DB{Dir: t.TempDir()}
	if err := os.WriteFile(db.sourcePath("format2"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	fresh := &DB{Dir: t.TempDir()}
	if _, err := fresh.Import(context.Background(), "testdata/osv/debian", ImportOptions{Name: "format2"}); err != nil {
		t.Fatal(err)
	}
	inv := &evidence.Inventory{
		Distro:   &evidence.Distro{ID: "debian", VersionID: "12"},
		Packages: []evidence.Package{{Name: "libssl3", Version: "3.0.11-1~deb12u2", Type: evidence.TypeDeb, Source: "openssl"}},
	}
	old, err := db.Match(context.Background(), inv)
	if err != nil {
		t.Fatal(err)
	}
	now, err := fresh.Match(context.Background(), inv)
	if err != nil {
		t.Fatal(err)
	}
	if len(old) == 0 || len(old) != len(now) {
		t.Fatalf("format 2 gives %d findings, format 3 %d", len(old), len(now))
	}
	for i := range now {
		if !old[i].Published.IsZero() {
			t.Errorf("format 2 finding %s has a publication date %s", old[i].ID, old[i].Published)
		}
		if now[i].Published.IsZero() {
			t.Errorf("format 3 finding %s has no publication date", now[i].ID)
		}
		now[i].Published = time.Time{}
		if !reflect.DeepEqual(old[i], now[i]) {
			t.Errorf("finding %d differs:\nformat 2 %+v\nformat 3 %+v", i, old[i], now[i])
		}
	}
}
