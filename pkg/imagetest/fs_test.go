package imagetest

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/ingot-build/ingot/internal/regtest"
	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/imageref"
)

// layeredImage exercises what flattening must get right: merged-/usr symlinks written through,
// absolute and relative symlinks, whiteouts, opaque directories, hardlinks, setuid bits and owners.
func layeredLayers(t testing.TB) []v1.Layer {
	base := append(baseEntries(),
		dirE("usr/bin", 0o755),
		symE("bin", "usr/bin"),
		fileE("usr/bin/dash", 0o755, "#!dash"),
		symE("usr/bin/sh", "dash"),
		fileE("usr/bin/passwd", 0o4755, "passwd-bin"),
		dirE("run", 0o755),
		dirE("var", 0o755),
		symE("var/run", "/run"),
		dirE("usr/share/zoneinfo", 0o755),
		fileE("usr/share/zoneinfo/UTC", 0o644, "TZif2-fake"),
		symE("etc/localtime", "/usr/share/zoneinfo/UTC"),
		dirE("opt/old", 0o755), fileE("opt/old/file", 0o644, "old"),
		dirE("opt/keep", 0o755), fileE("opt/keep/a", 0o644, "a"), fileE("opt/keep/b", 0o644, "b"),
		entry{name: "data", typ: tar.TypeDir, mode: 0o700, uid: 1000, gid: 1000},
	)
	top := []entry{
		whiteE("usr/bin/.wh.dash"),
		whiteE("usr/bin/.wh.sh"),
		dirE("opt/keep", 0o755),
		whiteE("opt/keep/.wh..wh..opq"),
		fileE("opt/keep/c", 0o644, "c"),
		whiteE("opt/.wh.old"),
		fileE("bin/hello", 0o755, "hello-bin"), // through the /bin symlink
		linkE("usr/bin/hello2", "usr/bin/hello"),
		{name: "app/config", typ: tar.TypeReg, mode: 0o640, uid: 1000, gid: 1000, body: []byte("k=v\n")},
		fileE("var/run/app.pid", 0o644, "1234\n"), // through the absolute /var/run symlink
		fileE("srv/x", 0o644, "x"),
		whiteE("srv/.wh.x"), // hides only lower layers: srv/x stays
	}
	return []v1.Layer{layerOf(t, base...), layerOf(t, top...)}
}

func intp(i int) *int { return &i }

func TestFileTests(t *testing.T) {
	img := imageOf(t, runtime.GOARCH, v1.Config{}, layeredLayers(t)...)
	existence := []struct {
		test FileExistenceTest
		want string // failure reason, "" for a pass
	}{
		{FileExistenceTest{Path: "/bin/sh"}, ""},
		{FileExistenceTest{Path: "/usr/bin/dash"}, ""},
		{FileExistenceTest{Path: "/usr/bin/dash", ShouldExist: true}, "/usr/bin/dash does not exist"},
		{FileExistenceTest{Path: "/bin/hello", ShouldExist: true, Permissions: "-rwxr-xr-x", UID: intp(0), GID: intp(0), IsExecutableBy: ExecOwner}, ""},
		{FileExistenceTest{Path: "/usr/bin/hello2", ShouldExist: true, Permissions: "-rwxr-xr-x"}, ""},
		{FileExistenceTest{Path: "/usr/bin/passwd", ShouldExist: true, Permissions: "-rwsr-xr-x"}, ""},
		{FileExistenceTest{Path: "/usr/bin/passwd", ShouldExist: true, Permissions: "urwxr-xr-x"}, ""},
		{FileExistenceTest{Path: "/usr/bin/passwd", ShouldExist: true, Permissions: "-rwxr-xr-x"}, "permissions are -rwsr-xr-x, want -rwxr-xr-x"},
		{FileExistenceTest{Path: "/app/config", ShouldExist: true, Permissions: "-rw-r-----", UID: intp(1000), GID: intp(1000)}, ""},
		{FileExistenceTest{Path: "/app/config", ShouldExist: true, UID: intp(0), GID: intp(0)}, "uid is 1000, want 0; gid is 1000, want 0"},
		{FileExistenceTest{Path: "/app/config", ShouldExist: true, IsExecutableBy: ExecAny}, "not executable by any (-rw-r-----)"},
		{FileExistenceTest{Path: "/usr/bin/passwd", ShouldExist: true, IsExecutableBy: ExecOther}, ""},
		{FileExistenceTest{Path: "/app/config", ShouldExist: false}, "/app/config exists (-rw-r-----)"},
		{FileExistenceTest{Path: "/opt/old"}, ""},
		{FileExistenceTest{Path: "/opt/keep/a"}, ""},
		{FileExistenceTest{Path: "/opt/keep/c", ShouldExist: true}, ""},
		{FileExistenceTest{Path: "/run/app.pid", ShouldExist: true}, ""},
		{FileExistenceTest{Path: "/var/run/app.pid", ShouldExist: true}, ""},
		{FileExistenceTest{Path: "/srv/x", ShouldExist: true}, ""},
		{FileExistenceTest{Path: "/etc/os-release", ShouldExist: true, Permissions: "Lrwxrwxrwx"}, ""},
		{FileExistenceTest{Path: "/tmp", ShouldExist: true, Permissions: "drwxrwxrwt"}, ""},
		{FileExistenceTest{Path: "/tmp", ShouldExist: true, Permissions: "dtrwxrwxrwx"}, ""},
		{FileExistenceTest{Path: "/data", ShouldExist: true, Permissions: "drwx------", UID: intp(1000)}, ""},
		{FileExistenceTest{Path: "/missing/deep/file", ShouldExist: true}, "/missing/deep/file does not exist"},
		{FileExistenceTest{Path: "/etc/passwd/x"}, ""},
		{FileExistenceTest{Path: "/usr/../../etc/passwd", ShouldExist: true}, ""}, // ".." stops at the root, as in a container
	}
	content := []struct {
		test FileContentTest
		want string
	}{
		{FileContentTest{Path: "/etc/os-release", ExpectedContents: []string{"(?m)^ID=debian$"}, ExcludedContents: []string{"ubuntu"}}, ""},
		{FileContentTest{Path: "/etc/localtime", ExpectedContents: []string{"^TZif"}}, ""},
		{FileContentTest{Path: "/etc/os-release", ExpectedContents: []string{"ID=alpine"}}, `contents do not match "ID=alpine"`},
		{FileContentTest{Path: "/etc/os-release", ExcludedContents: []string{"Fixture"}}, `contents match excluded "Fixture"`},
		{FileContentTest{Path: "/bin/sh", ExpectedContents: []string{"."}}, "/bin/sh does not exist"},
		{FileContentTest{Path: "/usr", ExpectedContents: []string{"."}}, "/usr is not a regular file (drwxr-xr-x)"},
		{FileContentTest{Path: "/usr/bin/hello2", ExpectedContents: []string{"^hello-bin$"}}, ""},
		{FileContentTest{Path: "/var/run/app.pid", ExpectedContents: []string{"^1234\n$"}}, ""},
		{FileContentTest{Path: "/opt/keep/c", ExpectedContents: []string{"^c$"}}, ""},
	}
	s := &Suite{}
	want := map[string]string{}
	for i, tc := range existence {
		tc.test.Name = fmt.Sprintf("existence %d %s", i, tc.test.Path)
		s.FileExistenceTests = append(s.FileExistenceTests, tc.test)
		want[tc.test.Name] = tc.want
	}
	for i, tc := range content {
		tc.test.Name = fmt.Sprintf("content %d %s", i, tc.test.Path)
		s.FileContentTests = append(s.FileContentTests, tc.test)
		want[tc.test.Name] = tc.want
	}
	fs, err := Run(context.Background(), img, s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != len(want) {
		t.Fatalf("%d findings for %d tests", len(fs), len(want))
	}
	for _, f := range fs {
		checkFinding(t, f, want[f.ID])
	}
}

// checkFinding asserts a test finding passed (want "") or failed for the reason want.
func checkFinding(t *testing.T, f evidence.Finding, want string) {
	t.Helper()
	if f.Kind != evidence.KindTest || f.Severity != evidence.SeverityHigh {
		t.Errorf("%s: finding %+v is not a test finding", f.ID, f)
	}
	if want := map[bool]string{true: f.ID, false: f.Description}[f.Status != evidence.StatusFailed]; f.Title != want {
		t.Errorf("%s: title %q, want %q", f.ID, f.Title, want)
	}
	switch {
	case want == "" && f.Status != evidence.StatusPassed:
		t.Errorf("%s: %s (%s), want passed", f.ID, f.Status, f.Description)
	case want != "" && f.Status != evidence.StatusFailed:
		t.Errorf("%s: %s, want failed with %q", f.ID, f.Status, want)
	case want != "" && !strings.Contains(f.Description, want):
		t.Errorf("%s: failed with %q, want %q", f.ID, f.Description, want)
	}
}

func TestUnsafeLayers(t *testing.T) {
	for _, tc := range []struct {
		name    string
		entries []entry
	}{
		{"dot-dot name", []entry{fileE("../etc/passwd", 0o644, "x")}},
		{"dot-dot inside", []entry{dirE("a", 0o755), fileE("a/../../x", 0o644, "x")}},
		{"hardlink out", []entry{linkE("x", "../../etc/shadow")}},
		{"hardlink to nothing", []entry{linkE("x", "etc/missing")}},
		{"file under a file", []entry{fileE("a", 0o644, "a"), fileE("a/b", 0o644, "b")}},
		{"symlink loop", []entry{symE("a", "b"), symE("b", "a"), fileE("a/x", 0o644, "x")}},
		{"name beyond PATH_MAX", []entry{fileE(strings.Repeat("a/", 2100)+"x", 0o644, "x")}},
		{"symlink target beyond PATH_MAX", []entry{symE("a", strings.Repeat("b/", 2100))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := imageOf(t, runtime.GOARCH, v1.Config{}, layerOf(t, tc.entries...))
			s := &Suite{FileExistenceTests: []FileExistenceTest{{Name: "x", Path: "/x"}}}
			_, err := Run(context.Background(), img, s, Options{})
			if !errors.Is(err, ErrUnsafeLayer) && !errors.Is(err, ErrNotDir) && !errors.Is(err, ErrSymlinkLoop) {
				t.Errorf("Run = %v, want an unsafe layer error", err)
			}
		})
	}
}

// TestUnpack checks the rootfs command tests run in: the same tree as the file tests see, written
// through symlinks only inside the root.
func TestUnpack(t *testing.T) {
	regtest.Root(t, "unpacking with owners")
	outside := filepath.Join(t.TempDir(), "outside")
	layers := append(layeredLayers(t), layerOf(t,
		symE("evil", "/../../../../../.."+outside),
		symE("evil2", "../../../../../.."+outside),
		fileE("evil/pwned", 0o644, "x"),
		fileE("evil2/pwned2", 0o644, "x"),
	))
	dir := t.TempDir()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = root.Close() })
	if _, err := readLayers(context.Background(), imageref.NewLayerReader(imageref.Limits{}), imageOf(t, runtime.GOARCH, v1.Config{}, layers...), root); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(outside); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a symlink led the unpacking out of the root: %v", err)
	}
	for _, tc := range []struct {
		path string
		mode os.FileMode // 0: must not exist
		uid  uint32
	}{
		{"bin", os.ModeSymlink | 0o777, 0},
		{"usr/bin/hello", 0o755, 0},
		{"usr/bin/dash", 0, 0},
		{"usr/bin/sh", 0, 0},
		{"usr/bin/passwd", 0o755 | os.ModeSetuid, 0},
		{"opt/old", 0, 0},
		{"opt/keep/a", 0, 0},
		{"opt/keep/c", 0o644, 0},
		{"run/app.pid", 0o644, 0},
		{"srv/x", 0o644, 0},
		{"app/config", 0o640, 1000},
		{"data", os.ModeDir | 0o700, 1000},
		{"tmp", os.ModeDir | os.ModeSticky | 0o777, 0},
		{filepath.Join(outside, "pwned")[1:], 0o644, 0},
		{filepath.Join(outside, "pwned2")[1:], 0o644, 0},
	} {
		fi, err := os.Lstat(filepath.Join(dir, tc.path))
		if tc.mode == 0 {
			if !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s exists (%v), want it whited out", tc.path, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.path, err)
			continue
		}
		if fi.Mode() != tc.mode || fi.Sys().(*syscall.Stat_t).Uid != tc.uid {
			t.Errorf("%s: mode %v uid %d, want %v uid %d", tc.path, fi.Mode(), fi.Sys().(*syscall.Stat_t).Uid, tc.mode, tc.uid)
		}
	}
	a, _ := os.Stat(filepath.Join(dir, "usr/bin/hello"))
	b, _ := os.Stat(filepath.Join(dir, "usr/bin/hello2"))
	if a == nil || b == nil || !os.SameFile(a, b) {
		t.Error("usr/bin/hello2 is not a hardlink of usr/bin/hello")
	}
}

// TestManyLayers reads more layers than there are CPUs, each with more entries than are read ahead,
// and a corrupt one: the parallel header reading neither deadlocks nor loses the order of layers.
func TestManyLayers(t *testing.T) {
	var layers []v1.Layer
	for i := range 3 * runtime.GOMAXPROCS(0) {
		var es []entry
		for j := range headerAhead + 100 {
			es = append(es, fileE(fmt.Sprintf("d/%d", j), 0o644, fmt.Sprint(i)))
		}
		layers = append(layers, layerOf(t, es...))
	}
	s := &Suite{FileContentTests: []FileContentTest{{Name: "last layer wins", Path: "/d/7", ExpectedContents: []string{fmt.Sprintf("^%d$", len(layers)-1)}}}}
	fs, err := Run(context.Background(), imageOf(t, runtime.GOARCH, v1.Config{}, layers...), s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkFinding(t, fs[0], "")

	corrupt, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader(strings.Repeat("not a tar archive ", 100))), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	bad := append(append(append([]v1.Layer{}, layers[:2]...), corrupt), layers[2:]...)
	if _, err := Run(context.Background(), imageOf(t, runtime.GOARCH, v1.Config{}, bad...), s, Options{}); err == nil || !strings.Contains(err.Error(), "layer 2") {
		t.Errorf("a corrupt layer gave %v, want an error naming layer 2", err)
	}
}
