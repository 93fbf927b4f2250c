package pipeline

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ingot-build/ingot/pkg/fault"
	"github.com/ingot-build/ingot/pkg/spec"
)

// TestEscapingFilesRefused: Lock and Build refuse a spec whose local files lie outside its directory
// before they touch the data directory, whoever calls them (the CLI checks too, a server need not).
func TestEscapingFilesRefused(t *testing.T) {
	repo := fixtureRepo(t)
	top := t.TempDir()
	dir := filepath.Join(top, "spec")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(top, "secret"), []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	head := "name: escape\nrepositories: [{url: " + repo.URL + ", suite: stable, keyring: " + repo.Keyring + "}]\npackages: [base-files]\n"
	good := parseSpec(t, dir, head)
	l, err := Lock(context.Background(), good, Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for _, tail := range []string{
		"files: [{source: ../secret, path: /etc/stolen}]\n",
		"files: [{source: " + filepath.Join(top, "secret") + ", path: /etc/stolen}]\n",
		"evidence: {tests: ../secret}\n",
		"evidence: {vex: [../secret]}\n",
	} {
		s := parseSpec(t, dir, head+tail)
		data := filepath.Join(t.TempDir(), "data")
		opt := Options{DataDir: data}
		if _, err := Lock(context.Background(), s, opt); !errors.Is(err, fault.Invalid) || !strings.Contains(err.Error(), "resolves outside the spec directory") {
			t.Errorf("Lock with %q = %v, want an Invalid error", tail, err)
		}
		if _, err := Build(context.Background(), s, l, opt); !errors.Is(err, fault.Invalid) || !strings.Contains(err.Error(), "resolves outside the spec directory") {
			t.Errorf("Build with %q = %v, want an Invalid error", tail, err)
		}
		if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a refused spec (%q) created the data directory", tail)
		}
	}
}

// TestServerSpec builds a spec that was not read from a file, as a server holding registered specs
// would: its files are named by absolute paths inside a directory the server allows.
func TestServerSpec(t *testing.T) {
	repo := fixtureRepo(t)
	shared := t.TempDir()
	if err := os.WriteFile(filepath.Join(shared, "motd"), []byte("welcome\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := spec.Parse([]byte("name: served\nrepositories: [{url: " + repo.URL + ", suite: stable, keyring: " + repo.Keyring + "}]\n" +
		"packages: [base-files]\nfiles: [{source: " + filepath.Join(shared, "motd") + ", path: /etc/motd}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := Check(s, Options{}); err == nil || !strings.Contains(err.Error(), "none is allowed") {
		t.Errorf("Check without allowed directories = %v", err)
	}
	opt := Options{DataDir: t.TempDir(), AllowFilesFrom: []string{shared}}
	l, err := Lock(context.Background(), s, opt)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Build(context.Background(), s, l, opt)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := files(t, res.Artifact.Image)["etc/motd"]; !ok {
		t.Error("the allowed file is not in the image")
	}
}

// TestReadFilesAfterSwap turns a checked directory into a symlink leading out between the check and
// the read: the build must fail rather than copy what lies outside.
func TestReadFilesAfterSwap(t *testing.T) {
	top := t.TempDir()
	dir := filepath.Join(top, "spec")
	for _, d := range []string{filepath.Join(dir, "conf"), filepath.Join(top, "outside")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "conf", "app.toml"), []byte("x = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(top, "outside", "app.toml"), []byte("stolen"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := parseSpec(t, dir, "name: swap\nfiles: [{source: conf, path: /etc/app}, {source: conf/app.toml, path: /etc/app.toml}]\n")
	local, err := check(s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if fs, err := readFiles(s, local); err != nil || len(fs) != 3 {
		t.Fatalf("readFiles before the swap = %d files, %v", len(fs), err)
	}
	if err := os.Rename(filepath.Join(dir, "conf"), filepath.Join(dir, "conf.old")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(top, "outside"), filepath.Join(dir, "conf")); err != nil {
		t.Fatal(err)
	}
	fs, err := readFiles(s, local)
	if err == nil {
		t.Errorf("readFiles followed a swapped-in symlink out of the spec directory: %d files", len(fs))
	}
	for _, f := range fs {
		if string(f.Data) == "stolen" {
			t.Errorf("%s holds the file from outside", f.Path)
		}
	}
}

// TestBuildNeedsLocalFiles: a lock does not read local files (they may be built after it), a build
// refuses a missing one as a spec error.
func TestBuildNeedsLocalFiles(t *testing.T) {
	repo := fixtureRepo(t)
	dir := t.TempDir()
	s := parseSpec(t, dir, "name: later\nrepositories: [{url: "+repo.URL+", suite: stable, keyring: "+repo.Keyring+"}]\n"+
		"packages: [base-files]\nfiles: [{source: bin/app, path: /usr/local/bin/app}]\n")
	opt := Options{DataDir: t.TempDir()}
	l, err := Lock(context.Background(), s, opt)
	if err != nil {
		t.Fatalf("Lock before the file is built: %v", err)
	}
	_, err = Build(context.Background(), s, l, opt)
	if !errors.Is(err, fault.Invalid) || !strings.Contains(err.Error(), `files[0].source: "bin/app" does not exist`) {
		t.Errorf("Build without the file = %v", err)
	}
}
