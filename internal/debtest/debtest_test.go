package debtest

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ingot-build/ingot/internal/regtest"
	"github.com/ingot-build/ingot/pkg/deb"
)

func hello() Package {
	return Package{
		Name:       "hello",
		Version:    "1:2.10-3",
		Source:     "hello-src (2.10-3)",
		Depends:    "libc6 (>= 2.34)",
		PreDepends: "dpkg (>= 1.15)",
		MultiArch:  "foreign",
		Files: []File{
			{Path: "usr/bin/hello", Mode: 0o755, Body: []byte("#!/bin/sh\necho hello\n")},
			{Path: "usr/share/doc/hello/copyright", Body: []byte("public domain\n")},
			{Path: "usr/bin/hi", Symlink: "hello"},
			{Path: "usr/bin/hello2", Hardlink: "usr/bin/hello"},
			{Path: "var/lib/hello", Dir: true, Mode: 0o700},
			{Path: "usr/bin/su-hello", Mode: 0o4755, Body: []byte("x")},
		},
		ExtraControl: []deb.Field{{Name: "Homepage", Value: "https://example.org/hello"}},
	}
}

func TestControlParagraph(t *testing.T) {
	p := hello()
	p.ExtraControl = append(p.ExtraControl, deb.Field{Name: "Maintainer", Value: "Someone <s@example.org>"})
	c := ControlParagraph(p)
	var b bytes.Buffer
	if _, err := c.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	want := `Package: hello
Source: hello-src (2.10-3)
Version: 1:2.10-3
Architecture: amd64
Maintainer: Someone <s@example.org>
Installed-Size: 6
Pre-Depends: dpkg (>= 1.15)
Depends: libc6 (>= 2.34)
Multi-Arch: foreign
Homepage: https://example.org/hello
Description: test package hello
 built by ingot's debtest
`
	if b.String() != want {
		t.Errorf("control =\n%s\nwant\n%s", b.String(), want)
	}
}

func TestBuildLayout(t *testing.T) {
	a := MustBuild(t, hello())
	b := MustBuild(t, hello())
	if !bytes.Equal(a, b) {
		t.Error("Build is not reproducible")
	}
	if !bytes.HasPrefix(a, []byte("!<arch>\ndebian-binary   ")) {
		t.Errorf("archive starts %q", a[:24])
	}
	for _, c := range []struct{ comp, member string }{
		{"", "data.tar.gz     "}, {"gz", "data.tar.gz     "}, {"xz", "data.tar.xz     "},
		{"zst", "data.tar.zst    "}, {"none", "data.tar        "},
	} {
		p := hello()
		p.Compression = c.comp
		if d := MustBuild(t, p); !bytes.Contains(d, []byte("\n"+c.member)) {
			t.Errorf("compression %q: no member %q", c.comp, c.member)
		}
	}
	for _, p := range []Package{
		{Name: "x"},
		{Version: "1"},
		{Name: "x", Version: "1", Compression: "bz2"},
		{Name: "x", Version: "1", ControlCompression: "lzma"},
		{Name: "x", Version: "1", Files: []File{{Path: "./x"}}},
		{Name: "x", Version: "1", Files: []File{{Path: "/"}}},
	} {
		if _, err := Build(p); !errors.Is(err, ErrInvalid) {
			t.Errorf("Build(%+v) err = %v, want ErrInvalid", p, err)
		}
	}
}

// TestDpkgDebAccepts hands what Build writes to the real dpkg-deb and extracts it.
func TestDpkgDebAccepts(t *testing.T) {
	regtest.Peer(t, "dpkg-deb")
	for _, comp := range []string{"gz", "xz", "zst", "none"} {
		t.Run(comp, func(t *testing.T) {
			p := hello()
			p.Compression = comp
			p.ControlCompression = comp
			dir := t.TempDir()
			debPath := filepath.Join(dir, "hello.deb")
			if err := os.WriteFile(debPath, MustBuild(t, p), 0o600); err != nil {
				t.Fatal(err)
			}
			run := func(args ...string) string {
				t.Helper()
				cmd := exec.Command("dpkg-deb", args...)
				cmd.Env = append(os.Environ(), "TZ=UTC") // --contents prints local times
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("dpkg-deb %v: %v\n%s", args, err, out)
				}
				return string(out)
			}
			info := run("--info", debPath)
			for _, want := range []string{"new Debian package, version 2.0.", "12 lines      control ", "3 lines      md5sums "} {
				if !strings.Contains(info, want) {
					t.Errorf("--info lacks %q:\n%s", want, info)
				}
			}
			var ctl bytes.Buffer
			if _, err := ControlParagraph(p).WriteTo(&ctl); err != nil {
				t.Fatal(err)
			}
			if got := run("--field", debPath); got != ctl.String() {
				t.Errorf("--field =\n%s\nwant\n%s", got, ctl.String())
			}
			contents := run("--contents", debPath)
			for _, want := range []string{
				"drwxr-xr-x root/root         0 2024-01-02 03:04 ./\n",
				"-rwxr-xr-x root/root        21 2024-01-02 03:04 ./usr/bin/hello\n",
				"lrwxrwxrwx root/root         0 2024-01-02 03:04 ./usr/bin/hi -> hello\n",
				"hrwxr-xr-x root/root         0 2024-01-02 03:04 ./usr/bin/hello2 link to ./usr/bin/hello\n",
				"drwx------ root/root         0 2024-01-02 03:04 ./var/lib/hello/\n",
				"-rwsr-xr-x root/root         1 2024-01-02 03:04 ./usr/bin/su-hello\n",
			} {
				if !strings.Contains(contents, want) {
					t.Errorf("--contents lacks %q:\n%s", want, contents)
				}
			}
			root := filepath.Join(dir, "root")
			run("--extract", debPath, root)
			if body, err := os.ReadFile(filepath.Join(root, "usr/bin/hello2")); err != nil || string(body) != "#!/bin/sh\necho hello\n" {
				t.Errorf("extracted hardlink: %q, %v", body, err)
			}
			if target, err := os.Readlink(filepath.Join(root, "usr/bin/hi")); err != nil || target != "hello" {
				t.Errorf("extracted symlink: %q, %v", target, err)
			}
			ctlDir := filepath.Join(dir, "DEBIAN")
			run("--control", debPath, ctlDir)
			sums, err := os.ReadFile(filepath.Join(ctlDir, "md5sums"))
			if err != nil {
				t.Fatal(err)
			}
			check := exec.Command("md5sum", "--check", "--strict", "--quiet")
			check.Dir = root
			check.Stdin = bytes.NewReader(sums)
			if out, err := check.CombinedOutput(); err != nil {
				t.Errorf("md5sum --check: %v\n%s", err, out)
			}
		})
	}
}

func TestModTimeAndOwner(t *testing.T) {
	regtest.Peer(t, "dpkg-deb")
	p := Package{Name: "x", Version: "1", SkipMD5Sums: true, Files: []File{
		{Path: "etc/x", Body: []byte("x"), UID: 1000, GID: 100, ModTime: time.Date(2020, 5, 6, 7, 8, 0, 0, time.UTC)},
	}}
	debPath := filepath.Join(t.TempDir(), "x.deb")
	if err := os.WriteFile(debPath, MustBuild(t, p), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("dpkg-deb", "--contents", debPath)
	cmd.Env = append(os.Environ(), "TZ=UTC")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(string(out), "-rw-r--r-- 1000/100          1 2020-05-06 07:08 ./etc/x\n") {
		t.Errorf("--contents:\n%s", out)
	}
	info, err := exec.Command("dpkg-deb", "--info", debPath).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, info)
	}
	if strings.Contains(string(info), "md5sums") {
		t.Errorf("SkipMD5Sums still wrote md5sums:\n%s", info)
	}
}
