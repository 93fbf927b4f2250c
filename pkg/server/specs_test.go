package server

import (
	"archive/tar"
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/spec"
)

const webSpec = "name: web\nversion: \"1.0\"\nrepositories: [{host: true, suites: [bookworm]}]\npackages: [base-files]\n" +
	"files:\n  - {source: conf, path: /etc/web}\nevidence:\n  vex: [vex.json]\n"

const webLock = `{"lockVersion": 1, "archs": {}}`

// webFiles is the archive ingot catalog add makes of the web spec's directory.
func webFiles(t *testing.T) []byte {
	t.Helper()
	dir := t.TempDir()
	for name, content := range map[string]string{"ingot.yaml": webSpec, "conf/web.conf": "port=80\n", "vex.json": "{}"} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s, err := spec.Load(filepath.Join(dir, "ingot.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	local, err := s.Local()
	if err != nil {
		t.Fatal(err)
	}
	files, err := local.Archive()
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// tarOf is a tar of the given files.
func tarOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func testSpecs(t *testing.T, e *env, _ fixture) {
	files := webFiles(t)
	r := e.do(request{method: http.MethodPost, path: "/v1/specs", token: e.writer, body: specRegistration{Spec: webSpec, Files: files, Lock: webLock}})
	if r.status != http.StatusCreated || r.header.Get("Location") != "/v1/specs/web" {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
	var v specView
	r.json(t, &v)
	if v.Name != "web" || v.Digest != catalog.SpecDigest([]byte(webSpec), files) || v.FilesSize != len(files) || !v.Locked || v.Spec != "" {
		t.Errorf("registered: %+v", v)
	}
	// What the catalog holds is what was sent, so a worker rebuilds exactly that.
	rs, err := e.cat.Spec(context.Background(), "web")
	if err != nil || string(rs.Spec) != webSpec || !bytes.Equal(rs.Files, files) || string(rs.Lock) != webLock || !rs.Added.Equal(e.srv.now()) {
		t.Fatalf("the catalog holds %+v %v", rs, err)
	}
	var list []specView
	e.get("/v1/specs", &list)
	if len(list) != 2 || list[0].Name != "app" || list[1].Name != "web" || list[1].Spec != "" {
		t.Errorf("specs: %+v", list)
	}
	e.get("/v1/specs/web", &v)
	if v.Spec != webSpec || v.ID != rs.ID {
		t.Errorf("spec web: %+v", v)
	}
	// Registering again replaces it; a spec without local files needs no archive, nor a lock.
	bare := "name: web\nrepositories: [{host: true, suites: [bookworm]}]\npackages: [base-files]\n"
	if r := e.do(request{method: http.MethodPost, path: "/v1/specs", token: e.writer, body: map[string]string{"spec": bare}}); r.status != http.StatusCreated {
		t.Fatalf("register again: %d %s", r.status, r.body)
	}
	if rs, err := e.cat.Spec(context.Background(), "web"); err != nil || string(rs.Spec) != bare || rs.Files != nil || rs.Lock != nil {
		t.Errorf("after replacing: %+v %v", rs, err)
	}

	if r := e.do(request{method: http.MethodDelete, path: "/v1/specs/web", token: e.writer}); r.status != http.StatusNoContent || len(r.body) != 0 {
		t.Errorf("remove: %d %s", r.status, r.body)
	}
	if r := e.do(request{method: http.MethodGet, path: "/v1/specs/web", token: e.reader}); r.status != http.StatusNotFound {
		t.Errorf("the removed spec: %d %s", r.status, r.body)
	}
	if r := e.do(request{method: http.MethodDelete, path: "/v1/specs/web", token: e.writer}); r.status != http.StatusNotFound {
		t.Errorf("removing twice: %d %s", r.status, r.body)
	}
}

// badSpecs are registrations that must be refused, each with what the message must say.
func badSpecs(t *testing.T) map[string]struct {
	body any
	says string
} {
	files := webFiles(t)
	return map[string]struct {
		body any
		says string
	}{
		"spec invalid":          {specRegistration{Spec: strings.Replace(webSpec, "name: web", "name: Web!", 1), Files: files}, "name"},
		"spec unknown field":    {specRegistration{Spec: webSpec + "colour: blue\n", Files: files}, "colour"},
		"spec empty":            {specRegistration{Spec: "", Files: files}, "empty"},
		"lock malformed":        {specRegistration{Spec: webSpec, Files: files, Lock: "lock\n"}, "lock"},
		"files missing":         {specRegistration{Spec: webSpec}, "conf"},
		"files not a tar":       {specRegistration{Spec: webSpec, Files: []byte("not a tar at all, not even close to 512 bytes")}, "archive"},
		"files leave the dir":   {specRegistration{Spec: webSpec, Files: tarOf(t, map[string]string{"../conf": "x", "vex.json": "{}"})}, "leaves"},
		"files lack one":        {specRegistration{Spec: webSpec, Files: tarOf(t, map[string]string{"vex.json": "{}"})}, "conf"},
		"files not base64":      {`{"spec": "name: web", "files": "@@@"}`, "base64"},
		"spec field misspelt":   {`{"specs": "name: web"}`, "specs"},
		"spec field wrong type": {`{"spec": 42}`, "spec"},
	}
}
