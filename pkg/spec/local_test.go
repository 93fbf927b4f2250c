package spec

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ingot-build/ingot/pkg/fault"
)

// localTree makes a spec directory beside a directory it must not read:
//
//	outside/secret            what an escaping spec wants
//	spec/app, spec/sub/conf   ordinary files
//	spec/inlink -> app        a symlink that stays inside
//	spec/outlink -> ../outside/secret (absolute)
//	spec/outdir -> ../outside (absolute)
//
// It returns the parent directory.
func localTree(t *testing.T) string {
	t.Helper()
	top := t.TempDir()
	for _, d := range []string{"outside", "spec/sub"} {
		if err := os.MkdirAll(filepath.Join(top, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"outside/secret", "spec/app", "spec/sub/conf"} {
		if err := os.WriteFile(filepath.Join(top, f), []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{
		"spec/inlink":  "app",
		"spec/outlink": filepath.Join(top, "outside", "secret"),
		"spec/outdir":  filepath.Join(top, "outside"),
	} {
		if err := os.Symlink(target, filepath.Join(top, link)); err != nil {
			t.Fatal(err)
		}
	}
	return top
}

func TestLocal(t *testing.T) {
	top := localTree(t)
	specDir := filepath.Join(top, "spec")
	outside := filepath.Join(top, "outside")
	for _, tc := range []struct {
		name, source string
		allowed      []string
		// want is the error's text; "" means the source is accepted, and then root, rel and exists are
		// what Local resolved.
		want        string
		root, rel   string
		notExisting bool
	}{
		{name: "file", source: "app", root: specDir, rel: "app"},
		{name: "directory", source: "sub", root: specDir, rel: "sub"},
		{name: "the spec directory itself", source: ".", root: specDir, rel: "."},
		{name: "symlink inside", source: "inlink", root: specDir, rel: "app"},
		{name: "dotdot that comes back", source: "sub/../app", root: specDir, rel: "app"},
		{name: "not there yet", source: "build/app", root: specDir, rel: "build/app", notExisting: true},
		{name: "relative escape", source: "../outside/secret", want: `files[0].source: "../outside/secret" resolves outside the spec directory ` + specDir},
		{name: "deep relative escape", source: "../../../../../../etc/passwd", want: "resolves outside the spec directory"},
		{name: "absolute", source: "/etc/passwd", want: `files[0].source: "/etc/passwd" resolves outside the spec directory`},
		{name: "source is a symlink out", source: "outlink", want: `"outlink" resolves outside`},
		{name: "through a symlinked directory", source: "outdir/secret", want: `"outdir/secret" resolves outside`},
		// Lexically outdir/../spec/app is spec/app; the file system goes to the link's parent first.
		{name: "dotdot after a symlink", source: "outdir/../outside/secret", want: "resolves outside"},
		{name: "missing below a symlink out", source: "outdir/newfile", want: "resolves outside"},
		{name: "missing then dotdot out", source: "nothing/../../outside/secret", want: "resolves outside"},
		{name: "allowed by absolute path", source: filepath.Join(outside, "secret"), allowed: []string{outside}, root: outside, rel: "secret"},
		{name: "allowed through a symlink", source: "outlink", allowed: []string{outside}, root: outside, rel: "secret"},
		{name: "other directory still refused", source: "/etc/passwd", allowed: []string{outside},
			want: "resolves outside the spec directory " + specDir + " and the allowed directories " + outside},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Spec{Dir: specDir, Files: []File{{Source: tc.source, Path: "/x"}}}
			local, err := s.Local(tc.allowed...)
			if tc.want != "" {
				if err == nil {
					t.Fatalf("Local accepted %q as %+v", tc.source, local.Files[0])
				}
				if !strings.Contains(err.Error(), tc.want) {
					t.Errorf("error = %q, want it to contain %q", err, tc.want)
				}
				if !errors.Is(err, fault.Invalid) || !errors.Is(err, ErrInvalid) {
					t.Errorf("error %v is not a spec error of kind Invalid", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			f := local.Files[0]
			// The roots are compared resolved: t.TempDir may itself lie under a symlink.
			wantRoot, _ := filepath.EvalSymlinks(tc.root)
			if f.Root != wantRoot || f.Rel != tc.rel || f.Exists == tc.notExisting || f.Field != "files[0].source" {
				t.Errorf("resolved %+v, want root %s rel %s exists %v", f, wantRoot, tc.rel, !tc.notExisting)
			}
		})
	}
}

func TestLocalEvidenceFiles(t *testing.T) {
	top := localTree(t)
	s := &Spec{Dir: filepath.Join(top, "spec"), Evidence: &Evidence{Tests: "../outside/secret", VEX: []string{"app", "outlink"}}}
	_, err := s.Local()
	if err == nil {
		t.Fatal("Local accepted evidence files outside the spec directory")
	}
	for _, want := range []string{`evidence.tests: "../outside/secret" resolves outside`, `evidence.vex[1]: "outlink" resolves outside`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error = %q, want it to contain %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "evidence.vex[0]") {
		t.Errorf("error = %q names evidence.vex[0], which is inside", err)
	}
}

func TestLocalWithoutDirectory(t *testing.T) {
	top := localTree(t)
	s := &Spec{Files: []File{{Source: "app", Path: "/x"}}}
	if _, err := s.Local(); err == nil || !strings.Contains(err.Error(), "the spec was not read from a directory") {
		t.Errorf("a relative source without a spec directory: %v", err)
	}
	s.Files[0].Source = filepath.Join(top, "outside", "secret")
	if _, err := s.Local(); err == nil || !strings.Contains(err.Error(), "none is allowed") {
		t.Errorf("an absolute source with nothing allowed: %v", err)
	}
	if _, err := s.Local(filepath.Join(top, "outside")); err != nil {
		t.Errorf("an absolute source in an allowed directory: %v", err)
	}
}

func TestLocalBadAllowedDirectory(t *testing.T) {
	top := localTree(t)
	s := &Spec{Dir: filepath.Join(top, "spec")}
	for _, dir := range []string{filepath.Join(top, "nowhere"), filepath.Join(top, "spec", "app")} {
		_, err := s.Local(dir)
		if !errors.Is(err, ErrAllowedDir) || !errors.Is(err, fault.Invalid) {
			t.Errorf("allowed directory %s: %v, want ErrAllowedDir", dir, err)
		}
	}
}

func TestCheckExist(t *testing.T) {
	top := localTree(t)
	s := &Spec{Dir: filepath.Join(top, "spec"), Files: []File{{Source: "app", Path: "/a"}, {Source: "bin/tool", Path: "/b"}}}
	local, err := s.Local()
	if err != nil {
		t.Fatal(err)
	}
	err = local.CheckExist()
	if err == nil || !strings.Contains(err.Error(), `files[1].source: "bin/tool" does not exist`) || !errors.Is(err, fault.Invalid) {
		t.Errorf("CheckExist = %v", err)
	}
}

// TestReadAfterSwap changes a checked path into a symlink leading out, as a racing writer would between
// the check and the read: the read must not follow it.
func TestReadAfterSwap(t *testing.T) {
	top := localTree(t)
	specDir := filepath.Join(top, "spec")
	s := &Spec{Dir: specDir, Evidence: &Evidence{Tests: "sub/secret"}}
	if err := os.WriteFile(filepath.Join(specDir, "sub", "secret"), []byte("harmless"), 0o644); err != nil {
		t.Fatal(err)
	}
	local, err := s.Local()
	if err != nil {
		t.Fatal(err)
	}
	if data, err := local.Tests.ReadFile(); err != nil || string(data) != "harmless" {
		t.Fatalf("ReadFile before the swap = %q, %v", data, err)
	}
	if err := os.Rename(filepath.Join(specDir, "sub"), filepath.Join(specDir, "old")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(top, "outside"), filepath.Join(specDir, "sub")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(top, "outside", "secret"), filepath.Join(top, "outside", "secret.bak")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(top, "outside", "secret"), []byte("stolen"), 0o600); err != nil {
		t.Fatal(err)
	}
	data, err := local.Tests.ReadFile()
	if err == nil {
		t.Errorf("ReadFile followed a symlink out of the spec directory and read %q", data)
	}
	if _, err := local.Tests.Recheck(); err == nil {
		t.Error("Recheck accepted a path that now leads out through a symlink")
	}
}

// TestReadRegularFIFO refuses a FIFO without blocking on it.
func TestReadRegularFIFO(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = root.Close() }()
	done := make(chan error, 1)
	go func() { _, err := ReadRegular(root, "fifo"); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("ReadRegular(fifo) = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ReadRegular blocked on a FIFO")
	}
}
