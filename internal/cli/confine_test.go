package cli

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/ingot-build/ingot/internal/testrepo"
	"github.com/ingot-build/ingot/pkg/store"
)

// assertNothingWritten fails unless a refused command left no lock beside the spec and nothing in the
// data directory (no cache entry, no fetched package, no layout, no evidence).
func assertNothingWritten(t *testing.T, specDir, data string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(specDir, "ingot.lock")); !errors.Is(err, os.ErrNotExist) {
		t.Error("a refused spec left an ingot.lock beside it")
	}
	entries, err := os.ReadDir(data)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("a refused spec left %s in the data directory", e.Name())
	}
}

// escapeFixture is a spec directory and, beside it, a directory holding what an escaping spec wants.
type escapeFixture struct {
	repo *testrepo.Repo
	// dir is the spec's directory; outside holds "shadow" and "tests.yaml".
	dir, outside string
}

func newEscapeFixture(t *testing.T, repo *testrepo.Repo, body string) escapeFixture {
	t.Helper()
	f := escapeFixture{repo: repo, outside: t.TempDir()}
	for name, content := range map[string]string{
		"shadow":     "root:$6$secret:19000:0:99999:7:::\n",
		"tests.yaml": "fileExistenceTests:\n  - {name: app, path: /usr/bin/app, shouldExist: true}\n",
		"motd":       "welcome\n",
	} {
		if err := os.WriteFile(filepath.Join(f.outside, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f.dir = writeSpec(t, repo, "")
	if err := os.Symlink(f.outside, filepath.Join(f.dir, "vendor")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(f.outside, "shadow"), filepath.Join(f.dir, "shadow-link")); err != nil {
		t.Fatal(err)
	}
	f.write(t, body)
	return f
}

// write replaces the spec: specTemplate plus tail, with {{OUT}} standing for the outside directory
// relative to the spec's ("../../..") and {{ABSOUT}} for its absolute path.
func (f escapeFixture) write(t *testing.T, tail string) {
	t.Helper()
	rel, err := filepath.Rel(f.dir, f.outside)
	if err != nil {
		t.Fatal(err)
	}
	body := strings.NewReplacer("{{URL}}", f.repo.URL, "{{KEYRING}}", f.repo.Keyring, "{{OUT}}", rel, "{{ABSOUT}}", f.outside).
		Replace(specTemplate + tail)
	if err := os.WriteFile(filepath.Join(f.dir, "ingot.yaml"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestEscapingFiles: a spec cannot copy (or read as evidence input) a file of the building machine
// outside its directory, by any route; lock and build refuse it with a spec error before writing
// anything.
func TestEscapingFiles(t *testing.T) {
	repo := testrepo.New(t, testrepo.Options{Packages: fixturePackages()})
	for _, tc := range []struct {
		name, tail, want string
	}{
		{"relative", "files: [{source: \"{{OUT}}/shadow\", path: /etc/stolen}]\n", `files[0].source: "../`},
		{"absolute", "files: [{source: /etc/passwd, path: /etc/stolen}]\n", `files[0].source: "/etc/passwd" resolves outside the spec directory`},
		{"through a symlinked directory", "files: [{source: vendor/shadow, path: /etc/stolen}]\n", `files[0].source: "vendor/shadow" resolves outside the spec directory`},
		{"a symlink to outside", "files: [{source: shadow-link, path: /etc/stolen}]\n", `files[0].source: "shadow-link" resolves outside the spec directory`},
		{"a symlinked directory copied whole", "files: [{source: vendor, path: /etc/stolen}]\n", `files[0].source: "vendor" resolves outside the spec directory`},
		{"evidence tests", "evidence: {tests: \"{{OUT}}/tests.yaml\"}\n", `evidence.tests: "../`},
		{"evidence vex", "evidence: {vex: [vendor/shadow]}\n", `evidence.vex[0]: "vendor/shadow" resolves outside the spec directory`},
	} {
		for _, verb := range []string{"lock", "build"} {
			t.Run(tc.name+"/"+verb, func(t *testing.T) {
				f := newEscapeFixture(t, repo, tc.tail)
				data := filepath.Join(t.TempDir(), "data")
				_, _, err := run(t, "--data-dir", data, verb, f.dir)
				if err == nil {
					t.Fatalf("%s succeeded", verb)
				}
				if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "resolves outside the spec directory "+f.dir) {
					t.Errorf("error = %q, want it to contain %q and name the spec directory", err, tc.want)
				}
				if got := ExitCode(err); got != ExitUsage {
					t.Errorf("exit code = %d, want %d", got, ExitUsage)
				}
				assertNothingWritten(t, f.dir, data)
			})
		}
	}
}

// TestEscapeWithExistingLock: a lock that still matches the spec (local files are not locked) is no
// reason to accept a spec that became an escape: lock and build refuse it and change nothing.
func TestEscapeWithExistingLock(t *testing.T) {
	repo := testrepo.New(t, testrepo.Options{Packages: fixturePackages()})
	f := newEscapeFixture(t, repo, "")
	if _, stderr, err := run(t, "--data-dir", t.TempDir(), "lock", f.dir); err != nil {
		t.Fatalf("lock: %v\n%s", err, stderr)
	}
	lockPath := filepath.Join(f.dir, "ingot.lock")
	before, err := os.ReadFile(lockPath)
	if err != nil {
		t.Fatal(err)
	}
	f.write(t, "files: [{source: shadow-link, path: /etc/stolen}]\n")
	for _, verb := range []string{"lock", "build"} {
		data := filepath.Join(t.TempDir(), "data")
		_, _, err := run(t, "--data-dir", data, verb, f.dir)
		if ExitCode(err) != ExitUsage || !strings.Contains(fmtErr(err), `files[0].source: "shadow-link" resolves outside`) {
			t.Errorf("%s with an up-to-date lock = %v (exit %d), want exit 2 naming files[0].source", verb, err, ExitCode(err))
		}
		if after, _ := os.ReadFile(lockPath); string(after) != string(before) {
			t.Errorf("a refused %s changed the lock", verb)
		}
		if entries, _ := os.ReadDir(data); len(entries) > 0 {
			t.Errorf("a refused %s wrote %s in the data directory", verb, entries[0].Name())
		}
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestAllowFilesFrom: a directory named with --allow-files-from holds files the spec may copy; a
// symlink inside a copied directory is copied as a link even when it points outside, never followed;
// a source that is itself a symlink inside is copied as what it points to.
func TestAllowFilesFrom(t *testing.T) {
	repo := testrepo.New(t, testrepo.Options{Packages: fixturePackages()})
	f := newEscapeFixture(t, repo, "files:\n  - {source: \"{{ABSOUT}}/motd\", path: /etc/motd}\n  - {source: conf, path: /etc/app}\n"+
		"  - {source: conf-link, path: /etc/linked.toml}\n")
	if err := os.Symlink(filepath.Join("conf", "app.toml"), filepath.Join(f.dir, "conf-link")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(f.dir, "conf"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.dir, "conf", "app.toml"), []byte("x = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(f.outside, "shadow"), filepath.Join(f.dir, "conf", "shadow")); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(t.TempDir(), "data")
	_, _, err := run(t, "--data-dir", data, "build", f.dir)
	if ExitCode(err) != ExitUsage || !strings.Contains(fmtErr(err), "files[0].source") {
		t.Fatalf("build without --allow-files-from = %v, want exit 2 naming files[0].source", err)
	}
	assertNothingWritten(t, f.dir, data)

	if _, stderr, err := run(t, "--data-dir", data, "lock", "--allow-files-from", f.outside, f.dir); err != nil {
		t.Fatalf("lock --allow-files-from: %v\n%s", err, stderr)
	}
	if _, stderr, err := run(t, "--data-dir", data, "build", "--allow-files-from", f.outside, f.dir); err != nil {
		t.Fatalf("build --allow-files-from: %v\n%s", err, stderr)
	}
	a, err := store.Store{Root: data}.Layouts().Read("fixture", "1.0")
	if err != nil {
		t.Fatal(err)
	}
	headers, contents := map[string]*tar.Header{}, map[string]string{}
	tr := tar.NewReader(mutate.Extract(a.Image))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(h.Name, "/")
		headers[name] = h
		b, _ := io.ReadAll(tr)
		contents[name] = string(b)
	}
	if contents["etc/motd"] != "welcome\n" {
		t.Errorf("/etc/motd = %q, want the allowed file's content", contents["etc/motd"])
	}
	if contents["etc/app/app.toml"] != "x = 1\n" {
		t.Errorf("/etc/app/app.toml = %q", contents["etc/app/app.toml"])
	}
	if h := headers["etc/linked.toml"]; h == nil || h.Typeflag != tar.TypeReg || contents["etc/linked.toml"] != "x = 1\n" {
		t.Errorf("etc/linked.toml = %+v %q, want the content conf-link points to", h, contents["etc/linked.toml"])
	}
	h := headers["etc/app/shadow"]
	if h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != filepath.Join(f.outside, "shadow") || contents["etc/app/shadow"] != "" {
		t.Errorf("etc/app/shadow = %+v, want a symlink to %s, not its content", h, filepath.Join(f.outside, "shadow"))
	}
}

// TestBadValuesFailEarly: values past the limits of file systems and registries, and outputs that
// cannot be written, fail with exit 2 before anything is locked, fetched, built or written.
func TestBadValuesFailEarly(t *testing.T) {
	repo := testrepo.New(t, testrepo.Options{Packages: fixturePackages()})
	for _, tc := range []struct {
		name, spec string
		flags      []string
		want       string
	}{
		{name: "5000-character name", spec: strings.Replace(specTemplate, "name: fixture", "name: "+strings.Repeat("n", 5000), 1),
			want: "name: \"nnnn"},
		{name: "bad tag", spec: strings.Replace(specTemplate, `version: "1.0"`, `version: "1.0+build"`, 1),
			want: `version: "1.0+build" is not a valid image tag`},
		{name: "tag too long", spec: strings.Replace(specTemplate, `version: "1.0"`, `version: "`+strings.Repeat("1", 129)+`"`, 1),
			want: "version: "},
		{name: "relative image path", spec: specTemplate + "paths: [{path: var/app, type: directory}]\n",
			want: `paths[0].path: "var/app" must be an absolute path`},
		{name: "dotdot image path", spec: specTemplate + "paths: [{path: /var/../../app, type: directory}]\n",
			want: `paths[0].path: "/var/../../app" must not contain '..'`},
		{name: "image path component too long", spec: specTemplate + "paths: [{path: /" + strings.Repeat("p", 300) + ", type: directory}]\n",
			want: "paths[0].path: has a component of 300 bytes"},
		{name: "NUL in a symlink target", spec: specTemplate + "paths: [{path: /x, type: symlink, target: \"a\\0b\"}]\n",
			want: `paths[0].target: "a\x00b" contains a NUL byte`},
		{name: "push reference", spec: specTemplate, flags: []string{"--push", "Not A Reference!"},
			want: `--push "Not A Reference!"`},
		{name: "tarball directory", spec: specTemplate, flags: []string{"--tarball", filepath.Join(t.TempDir(), "no", "such", "dir", "img.tar")},
			want: "does not exist"},
		{name: "tarball is a directory", spec: specTemplate, flags: []string{"--tarball", t.TempDir()},
			want: "is a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeSpec(t, repo, tc.spec)
			data := filepath.Join(t.TempDir(), "data")
			_, _, err := run(t, append([]string{"--data-dir", data, "build"}, append(tc.flags, dir)...)...)
			if err == nil {
				t.Fatal("build succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %q, want it to contain %q", err, tc.want)
			}
			if len(err.Error()) > 1000 {
				t.Errorf("the error repeats the whole value: %d characters", len(err.Error()))
			}
			if got := ExitCode(err); got != ExitUsage {
				t.Errorf("exit code = %d, want %d", got, ExitUsage)
			}
			assertNothingWritten(t, dir, data)
		})
	}
}
