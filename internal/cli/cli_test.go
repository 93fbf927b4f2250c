package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ingot-build/ingot/internal/debtest"
	"github.com/ingot-build/ingot/internal/regtest"
	"github.com/ingot-build/ingot/internal/testrepo"
	"github.com/ingot-build/ingot/pkg/lock"
	"github.com/ingot-build/ingot/pkg/store"
)

// run executes ingot with args, as the binary would, and returns stdout, stderr and the error.
func run(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	return runWith(t, &globalFlags{}, args...)
}

// fixturePackages is a small Debian-like package set: a base-files with os-release, a library with a
// versioned dependency, a virtual package with an alternative, and a debconf that gets excluded.
func fixturePackages() []debtest.Package {
	return []debtest.Package{
		{Name: "base-files", Version: "12.4+deb12u1", Arch: "all", Priority: "required", Depends: "awk", Files: []debtest.File{
			{Path: "usr/lib/os-release", Body: []byte("PRETTY_NAME=\"Fixture GNU/Linux\"\nID=debian\n")},
			{Path: "etc/os-release", Symlink: "../usr/lib/os-release"},
			{Path: "etc/debian_version", Body: []byte("12.4\n")},
		}},
		{Name: "mawk", Version: "1.3.4.20200120-3.1", Arch: "amd64", Provides: "awk", Priority: "required", Files: []debtest.File{
			{Path: "usr/bin/mawk", Mode: 0o755, Body: []byte("#!fake awk\n")},
		}},
		{Name: "libfoo1", Version: "1:2.0~rc1-1", Arch: "amd64", Source: "foo (1:2.0~rc1-1)", Files: []debtest.File{
			{Path: "usr/lib/x86_64-linux-gnu/libfoo.so.1.0", Body: bytes.Repeat([]byte("foo"), 100)},
			{Path: "usr/lib/x86_64-linux-gnu/libfoo.so.1", Symlink: "libfoo.so.1.0"},
		}},
		{Name: "libfoo1", Version: "1:1.9-1", Arch: "amd64", Source: "foo (1:1.9-1)", Files: []debtest.File{
			{Path: "usr/lib/x86_64-linux-gnu/libfoo.so.1.0", Body: []byte("old")},
		}},
		{Name: "tzdata", Version: "2024a-0+deb12u1", Arch: "all", Depends: "debconf (>= 0.5) | debconf-2.0", Files: []debtest.File{
			{Path: "usr/share/zoneinfo/UTC", Body: []byte("TZif2 fake")},
		}},
		{Name: "debconf", Version: "1.5.82", Arch: "all", Provides: "debconf-2.0", Depends: "perl-base", Files: []debtest.File{
			{Path: "usr/bin/debconf", Mode: 0o755, Body: []byte("#!/usr/bin/perl\n")},
		}},
		{Name: "app", Version: "1.0-1", Arch: "amd64", Depends: "libfoo1 (>= 1:2.0~rc1), tzdata", Files: []debtest.File{
			{Path: "usr/bin/app", Mode: 0o755, Body: []byte("app binary")},
		}},
	}
}

const specTemplate = `name: fixture
version: "1.0"
repositories:
  - url: {{URL}}
    suite: stable
    keyring: {{KEYRING}}
packages: [base-files, app]
exclude: [debconf]
`

// writeSpec writes an ingot.yaml for repo into a new directory and returns that directory.
func writeSpec(t *testing.T, repo *testrepo.Repo, body string) string {
	t.Helper()
	dir := t.TempDir()
	body = strings.NewReplacer("{{URL}}", repo.URL, "{{KEYRING}}", repo.Keyring).Replace(body)
	if err := os.WriteFile(filepath.Join(dir, "ingot.yaml"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestLockThenBuild(t *testing.T) {
	repo := testrepo.New(t, testrepo.Options{Packages: fixturePackages()})
	dir := writeSpec(t, repo, specTemplate)
	data := t.TempDir()

	if _, stderr, err := run(t, "--data-dir", data, "lock", dir); err != nil {
		t.Fatalf("lock: %v\n%s", err, stderr)
	}
	l, err := lock.Read(filepath.Join(dir, "ingot.lock"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range l.Archs["amd64"].Packages {
		got = append(got, p.Name+"="+p.Version)
	}
	want := "app=1.0-1 base-files=12.4+deb12u1 libfoo1=1:2.0~rc1-1 mawk=1.3.4.20200120-3.1 tzdata=2024a-0+deb12u1"
	if strings.Join(got, " ") != want {
		t.Errorf("locked %v\nwant %s", got, want)
	}
	if ex := l.Archs["amd64"].Excluded; len(ex) != 1 || ex[0].Name != "debconf" || strings.Join(ex[0].RequiredBy, ",") != "tzdata" {
		t.Errorf("excluded = %+v, want debconf required by tzdata", ex)
	}
	if len(l.Repositories) != 1 || !strings.HasPrefix(l.Repositories[0].Release, "sha256:") || len(l.Repositories[0].Indexes) != 1 {
		t.Errorf("repository record = %+v", l.Repositories)
	}

	stdout, stderr, err := run(t, "--data-dir", data, "build", dir)
	if err != nil {
		t.Fatalf("build: %v\n%s", err, stderr)
	}
	digest := strings.TrimSpace(stdout)
	if !strings.HasPrefix(digest, "sha256:") || len(digest) != 71 {
		t.Fatalf("build printed %q, want a digest", stdout)
	}
	layoutDir := store.Store{Root: data}.Layouts().Dir("fixture")
	idx, err := os.ReadFile(filepath.Join(layoutDir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(idx), digest) || !strings.Contains(string(idx), `"org.opencontainers.image.ref.name":"1.0"`) {
		t.Errorf("index.json does not name %s as 1.0: %s", digest, idx)
	}

	// A second build of the unchanged spec is recognised and gives the same digest.
	again, _, err := run(t, "--data-dir", data, "build", dir)
	if err != nil || strings.TrimSpace(again) != digest {
		t.Errorf("rebuild = %q, %v; want %s", again, err, digest)
	}

	t.Run("skopeo", func(t *testing.T) {
		skopeo := regtest.Peer(t, "skopeo")
		out, err := exec.Command(skopeo, "inspect", "oci:"+layoutDir+":1.0").CombinedOutput()
		if err != nil {
			t.Fatalf("skopeo inspect: %v\n%s", err, out)
		}
		var info struct {
			Digest, Architecture, Os string
			Layers                   []string
		}
		if err := json.Unmarshal(out, &info); err != nil {
			t.Fatal(err)
		}
		if info.Digest != digest || info.Architecture != "amd64" || info.Os != "linux" || len(info.Layers) != 1 {
			t.Errorf("skopeo sees %+v", info)
		}
	})
	t.Run("umoci", func(t *testing.T) {
		umoci := regtest.Peer(t, "umoci")
		bundle := filepath.Join(t.TempDir(), "bundle")
		out, err := exec.Command(umoci, "unpack", "--rootless", "--image", layoutDir+":1.0", bundle).CombinedOutput()
		if err != nil {
			t.Fatalf("umoci unpack: %v\n%s", err, out)
		}
		rootfs := filepath.Join(bundle, "rootfs")
		for _, p := range []string{"usr/bin/app", "usr/lib/x86_64-linux-gnu/libfoo.so.1.0", "var/lib/dpkg/status.d/libfoo1", "etc/passwd"} {
			if _, err := os.Lstat(filepath.Join(rootfs, p)); err != nil {
				t.Errorf("unpacked image lacks %s: %v", p, err)
			}
		}
		if _, err := os.Lstat(filepath.Join(rootfs, "usr/bin/debconf")); !errors.Is(err, os.ErrNotExist) {
			t.Error("the excluded debconf was installed")
		}
		passwd, _ := os.ReadFile(filepath.Join(rootfs, "etc/passwd"))
		if !strings.Contains(string(passwd), "nonroot:x:65532:65532:") {
			t.Errorf("/etc/passwd lacks nonroot:\n%s", passwd)
		}
		fi, err := os.Stat(filepath.Join(rootfs, "tmp"))
		if err != nil || fi.Mode()&os.ModeSticky == 0 || fi.Mode().Perm() != 0o777 {
			t.Errorf("/tmp mode = %v, %v; want 1777", fi.Mode(), err)
		}
	})
}
