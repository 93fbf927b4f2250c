package spec

import (
	"archive/tar"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/ingot-build/ingot/pkg/fault"
)

// TestArchiveRoundTrip archives what a spec names and unpacks it elsewhere: the spec finds the same
// files under the same names, links inside directories stay links, and the bytes are deterministic.
func TestArchiveRoundTrip(t *testing.T) {
	top := localTree(t)
	specDir := filepath.Join(top, "spec")
	if err := os.WriteFile(filepath.Join(specDir, "sub", "run.sh"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("conf", filepath.Join(specDir, "sub", "conf.link")); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"tests.yaml", "vex/app.json"} {
		_ = os.MkdirAll(filepath.Dir(filepath.Join(specDir, f)), 0o755)
		if err := os.WriteFile(filepath.Join(specDir, f), []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s := &Spec{Dir: specDir, Files: []File{{Source: "app"}, {Source: "sub"}, {Source: "inlink"}, {Source: "./app"}},
		Evidence: &Evidence{Tests: "tests.yaml", VEX: []string{"vex/app.json"}}}
	local, err := s.Local()
	if err != nil {
		t.Fatal(err)
	}
	archive, err := local.Archive()
	if err != nil {
		t.Fatal(err)
	}
	again, _ := local.Archive()
	if !bytes.Equal(archive, again) {
		t.Errorf("the archive of the same files differs")
	}
	var names []string
	tr := tar.NewReader(bytes.NewReader(archive))
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		names = append(names, h.Name)
		if h.Uid != 0 || h.ModTime.Unix() != 0 {
			t.Errorf("%s has owner %d, time %v", h.Name, h.Uid, h.ModTime)
		}
	}
	want := []string{"app", "inlink", "sub/", "sub/conf", "sub/conf.link", "sub/run.sh", "tests.yaml", "vex/", "vex/app.json"}
	if len(names) != len(want) {
		t.Fatalf("archive holds %q, want %q", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("archive holds %q, want %q", names, want)
		}
	}
	dst := t.TempDir()
	if err := Unarchive(archive, dst); err != nil {
		t.Fatal(err)
	}
	for f, content := range map[string]string{"app": "spec/app", "inlink": "spec/app", "sub/conf": "spec/sub/conf", "tests.yaml": "tests.yaml", "vex/app.json": "vex/app.json"} {
		b, err := os.ReadFile(filepath.Join(dst, f))
		if err != nil || string(b) != content {
			t.Errorf("unpacked %s: %q %v, want %q", f, b, err, content)
		}
	}
	if fi, err := os.Lstat(filepath.Join(dst, "inlink")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("a source that is a symlink is archived as what it points to: %v %v", fi, err)
	}
	if target, err := os.Readlink(filepath.Join(dst, "sub", "conf.link")); err != nil || target != "conf" {
		t.Errorf("a link inside a directory: %q %v", target, err)
	}
	if fi, err := os.Stat(filepath.Join(dst, "sub", "run.sh")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("run.sh mode %v %v", fi, err)
	}
	// The spec, moved beside the unpacked files, resolves the same names.
	moved := &Spec{Dir: dst, Files: s.Files, Evidence: s.Evidence}
	ml, err := moved.Local()
	if err != nil {
		t.Fatal(err)
	}
	if err := ml.CheckExist(); err != nil {
		t.Errorf("the unpacked files are not where the spec looks: %v", err)
	}
}

func TestArchiveRefuses(t *testing.T) {
	top := localTree(t)
	s := &Spec{Dir: filepath.Join(top, "spec"), Files: []File{{Source: "missing"}}}
	local, err := s.Local()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := local.Archive(); !errors.Is(err, fault.Invalid) {
		t.Errorf("archiving a missing file: %v", err)
	}
	for name, h := range map[string]*tar.Header{
		"escape":   {Name: "../../etc/cron.d/x", Typeflag: tar.TypeReg},
		"absolute": {Name: "/etc/passwd", Typeflag: tar.TypeReg},
		"device":   {Name: "dev", Typeflag: tar.TypeChar},
	} {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		_ = tw.WriteHeader(h)
		_ = tw.Close()
		err := Unarchive(buf.Bytes(), t.TempDir())
		if !errors.Is(err, ErrArchive) {
			t.Errorf("unpacking an archive with %s: %v, want ErrArchive", name, err)
		}
	}
	// A link in the archive cannot carry a later write out of the directory.
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	_ = tw.WriteHeader(&tar.Header{Name: "d", Typeflag: tar.TypeSymlink, Linkname: filepath.Join(top, "outside")})
	_ = tw.WriteHeader(&tar.Header{Name: "d/planted", Typeflag: tar.TypeReg, Size: 1})
	_, _ = tw.Write([]byte("x"))
	_ = tw.Close()
	if err := Unarchive(buf.Bytes(), t.TempDir()); err == nil {
		t.Errorf("a write through a link in the archive succeeded")
	}
	if _, err := os.Stat(filepath.Join(top, "outside", "planted")); err == nil {
		t.Errorf("a file was planted outside the directory")
	}
}
