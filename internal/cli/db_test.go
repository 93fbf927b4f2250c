package cli

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ingot-build/ingot/internal/regtest"
	"github.com/ingot-build/ingot/pkg/store"
	"github.com/ingot-build/ingot/pkg/vuln"
)

// runDB runs ingot db with args against dataDir and returns stdout and the exit code.
func runDB(t *testing.T, dataDir string, args ...string) (string, int) {
	t.Helper()
	// Through the root command, so flag errors are usage errors as in the binary; held to loopback
	// (an update without a URL goes to OSV's bucket, which the offline transport refuses).
	cmd := newRoot(&globalFlags{transport: regtest.OfflineTransport(nil)})
	var out, errOut bytes.Buffer
	cmd.SetArgs(append([]string{"--data-dir", dataDir, "db"}, args...))
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.Execute()
	if err != nil {
		out.WriteString("error: " + err.Error() + "\n")
	}
	return out.String(), ExitCode(err)
}

const dbFixtures = "../../pkg/vuln/testdata/osv"

func TestDBImportAndStatus(t *testing.T) {
	dir := t.TempDir()
	out, code := runDB(t, dir, "import", dbFixtures, "--name", "fixtures")
	if code != ExitOK || !strings.Contains(out, "imported 24 records (1 withdrawn) as source fixtures") || !strings.Contains(out, "Debian:12") {
		t.Fatalf("import: code %d\n%s", code, out)
	}
	out, code = runDB(t, dir, "status")
	if code != ExitOK {
		t.Fatalf("status: %d %s", code, out)
	}
	for _, want := range []string{"SOURCE", "fixtures", "(all)", "Alpine:v3.19", "2024-03-01", "just now", "from "} {
		if !strings.Contains(out, want) {
			t.Errorf("status table lacks %q:\n%s", want, out)
		}
	}
	out, code = runDB(t, dir, "status", "-o", "json")
	var st vuln.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil || code != ExitOK {
		t.Fatalf("status -o json: %d %v\n%s", code, err, out)
	}
	if st.Dir != (store.Store{Root: dir}).VulnDB().Dir || len(st.Sources) != 1 || st.Sources[0].Records != 24 || len(st.Sources[0].Ecosystems) != 8 {
		t.Errorf("status = %+v", st)
	}
}

func TestDBBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(t.TempDir(), "bad")
	if err := os.MkdirAll(bad, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bad, "X-1.json"), []byte(`{"id":"X-1"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	// Archives given as input that cannot be read as OSV data are bad input like any other.
	zips := t.TempDir()
	random := filepath.Join(zips, "random.zip")
	if err := os.WriteFile(random, bytes.Repeat([]byte("not a zip at all "), 64), 0o644); err != nil {
		t.Fatal(err)
	}
	good := `{"id":"X-1","affected":[{"package":{"ecosystem":"npm","name":"a"}}]}`
	whole := writeTestZip(t, filepath.Join(zips, "whole.zip"), map[string]string{"X-1.json": good, "X-2.json": strings.ReplaceAll(good, "X-1", "X-2")})
	truncated := filepath.Join(zips, "truncated.zip")
	if err := os.WriteFile(truncated, whole[:len(whole)*2/3], 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(zips, "empty.zip")
	writeTestZip(t, empty, nil)
	notJSON := filepath.Join(zips, "notjson.zip")
	writeTestZip(t, notJSON, map[string]string{"X-1.json": "\x89PNG\r\n"})
	// 40 MiB of zeros in four records, about 40 KiB zipped.
	bomb := filepath.Join(zips, "bomb.zip")
	zeros := strings.Repeat("\x00", 10<<20)
	writeTestZip(t, bomb, map[string]string{"A.json": zeros, "B.json": zeros, "C.json": zeros, "D.json": zeros})

	t.Setenv("INGOT_VULNDB_URL", "")
	for _, c := range []struct {
		args    []string
		code    int
		mention string
	}{
		{[]string{"import", bad}, ExitUsage, "X-1.json"},
		{[]string{"import", filepath.Join(dir, "missing")}, ExitUsage, "missing"},
		{[]string{"import", filepath.Join(dir, "no", "such", "dir") + "/"}, ExitUsage, "no such file"},
		{[]string{"import", random}, ExitUsage, "random.zip is not a valid zip"},
		{[]string{"import", truncated}, ExitUsage, "truncated.zip is not a valid zip"},
		{[]string{"import", empty}, ExitUsage, "no OSV records"},
		{[]string{"import", notJSON}, ExitUsage, "notjson.zip!X-1.json"},
		{[]string{"import", "--max-size", "10MiB", bomb}, ExitUsage, "more than the limit of 10 MiB"},
		{[]string{"import", "--max-size", "lots", dbFixtures}, ExitUsage, "not a size"},
		{[]string{"import", "--max-size", "0", dbFixtures}, ExitUsage, "not a size"},
		{[]string{"update", "--url", "http://127.0.0.1:1", "--ecosystem", "Go", "--max-size", "-5"}, ExitUsage, "not a size"},
		{[]string{"import", dbFixtures, "--name", "../x"}, ExitUsage, "invalid source name"},
		{[]string{"import"}, ExitUsage, "accepts 1 arg"},
		{[]string{"status", "-o", "xml"}, ExitUsage, `-o "xml": want table or json`},
		{[]string{"update", "--ecosystem", "Go"}, ExitFailure, "GET " + vuln.DefaultUpdateURL + "/Go/all.zip: regtest: refused"},
		{[]string{"update", "--url", "http://127.0.0.1:1", "--ecosystem", "Go", "--revoke-at", "severe"}, ExitUsage, `"severe" is not a level`},
		{[]string{"update", "--url", "file:///srv/osv", "--ecosystem", "Go"}, ExitUsage, "http or https"},
		{[]string{"update", "--url", "http://127.0.0.1:1"}, ExitUsage, "no ecosystems to update"},
	} {
		out, code := runDB(t, dir, c.args...)
		if code != c.code || !strings.Contains(out, c.mention) {
			t.Errorf("ingot db %v: code %d, want %d mentioning %q\n%s", c.args, code, c.code, c.mention, out)
		}
	}
	// Nothing was written by the failures.
	if out, _ := runDB(t, dir, "status"); !strings.Contains(out, "no vulnerability data") {
		t.Errorf("status after failures:\n%s", out)
	}
}

func TestDBUpdate(t *testing.T) {
	bucket := t.TempDir()
	for eco, sub := range map[string]string{"npm": "npm", "PyPI": "pypi"} {
		zpath := filepath.Join(bucket, eco, "all.zip")
		if err := os.MkdirAll(filepath.Dir(zpath), 0o755); err != nil {
			t.Fatal(err)
		}
		f, err := os.Create(zpath)
		if err != nil {
			t.Fatal(err)
		}
		zw := zip.NewWriter(f)
		files, _ := filepath.Glob(filepath.Join(dbFixtures, sub, "*.json"))
		for _, p := range files {
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			w, err := zw.Create(filepath.Base(p))
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
		f.Close()
	}
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.Path)
		http.FileServer(http.Dir(bucket)).ServeHTTP(w, r)
	}))
	defer srv.Close()
	dir := t.TempDir()

	t.Setenv("INGOT_VULNDB_URL", srv.URL)
	out, code := runDB(t, dir, "update", "--ecosystem", "npm,PyPI")
	if code != ExitOK || !strings.Contains(out, "updated 6 records (0 withdrawn) as source osv") {
		t.Fatalf("update: %d\n%s", code, out)
	}
	if strings.Join(paths, " ") != "/npm/all.zip /PyPI/all.zip" {
		t.Errorf("fetched %v", paths)
	}
	// --url wins over the environment; a failing update keeps the data.
	out, code = runDB(t, dir, "update", "--url", srv.URL+"/nothing", "--ecosystem", "npm")
	if code != ExitFailure || !strings.Contains(out, "404") {
		t.Errorf("update from a missing path: %d\n%s", code, out)
	}
	out, _ = runDB(t, dir, "status", "-o", "json")
	var st vuln.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Sources) != 1 || st.Sources[0].Records != 6 || st.Sources[0].Origin != srv.URL || strings.Join(st.Sources[0].Requested, ",") != "npm,PyPI" {
		t.Errorf("status after a failed update = %+v", st)
	}
}

// writeTestZip writes files (name → content) to a zip at path and returns its bytes.
func writeTestZip(t *testing.T, path string, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, body); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
