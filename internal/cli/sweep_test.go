package cli

import (
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ingot-build/ingot/internal/regtest"
	"github.com/ingot-build/ingot/internal/safefile"
	"github.com/ingot-build/ingot/internal/testrepo"
	"github.com/ingot-build/ingot/pkg/store"
)

// exitedPid is the pid of a process that has exited and been reaped: what a killed run's temporary
// files are named after.
func exitedPid(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// livePid is the pid of a process that runs until the test ends: another ingot still writing.
func livePid(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("sleep", "600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd.Process.Pid
}

// plantTemp creates a temporary file named as process pid's in dir, as safefile.CreateTemp would.
func plantTemp(t *testing.T, dir, prefix string, pid int) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "."+prefix+".tmp-"+strconv.Itoa(pid)+"-123")
	if err := os.WriteFile(p, []byte("half written"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// tempFiles lists every temporary entry under root.
func tempFiles(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if safefile.IsTemp(d.Name()) {
			out = append(out, p)
			if d.IsDir() {
				return filepath.SkipDir
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// clearDir removes the regular files of dir (a cache), leaving temporary files alone.
func clearDir(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !safefile.IsTemp(e.Name()) && e.Type().IsRegular() {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestSweepAfterKilledRuns leaves in each area of the data directory the temporary files a killed
// run leaves there, then runs the command that writes to that area: they are gone afterwards, while
// the temporary files of a live process are kept. Commands whose only writes are caches sweep only
// when they write: served from the cache, they leave everything as it is.
func TestSweepAfterKilledRuns(t *testing.T) {
	t.Setenv("COSIGN_PASSWORD", "correct horse")
	repo := testrepo.New(t, testrepo.Options{Packages: fixturePackages()})
	dir := writeSpec(t, repo, specTemplate+"evidence: {fail-on: none}\n")
	data := t.TempDir()
	st := store.Store{Root: data}
	host := regtest.Registry(t, regtest.WithReferrers(false))
	ref := host + "/golden/fixture:1.0"
	keys := t.TempDir()
	if _, stderr, err := run(t, "key", "generate", "--output-key-prefix", filepath.Join(keys, "k")); err != nil {
		t.Fatalf("key generate: %v\n%s", err, stderr)
	}
	osv := filepath.Join(t.TempDir(), "a.json")
	if err := os.WriteFile(osv, []byte(debianAdvisory), 0o644); err != nil {
		t.Fatal(err)
	}
	dead, live := exitedPid(t), livePid(t)
	var digest string

	steps := []struct {
		name string
		// areas are the directories the command writes to.
		areas []string
		// before runs first, e.g. to empty a cache so that the command has to write to it.
		before func(t *testing.T)
		args   []string
		// swept is false for a command that must leave the data directory alone.
		swept bool
	}{
		{name: "db import", areas: []string{st.VulnDB().Dir}, args: []string{"db", "import", "--name", "fixture", osv}, swept: true},
		{name: "lock", areas: []string{filepath.Join(st.Indexes().Dir, "sha256")}, args: []string{"lock", dir}, swept: true},
		{
			name: "build",
			areas: []string{
				filepath.Join(st.Packages().Dir, "sha256"), st.BuildCache(), st.Layouts().Dir("fixture"),
				filepath.Join(st.Layouts().Dir("fixture"), "blobs", "sha256"), filepath.Join(st.EvidenceRoot(), "fixture"),
			},
			args: []string{"build", "--push", ref, dir}, swept: true,
		},
		{name: "sbom from the cache", areas: []string{st.Inventories().Dir}, args: []string{"sbom", "fixture:1.0"}},
		{
			name: "sbom", areas: []string{st.Inventories().Dir}, args: []string{"sbom", "fixture:1.0"}, swept: true,
			before: func(t *testing.T) { clearDir(t, st.Inventories().Dir) },
		},
		{
			name: "scan", areas: []string{st.Inventories().Dir}, args: []string{"scan", "fixture:1.0"}, swept: true,
			before: func(t *testing.T) { clearDir(t, st.Inventories().Dir) },
		},
		{name: "sign", areas: []string{filepath.Join(st.Signatures(), "sha256")}, args: []string{"sign", "--key", filepath.Join(keys, "k.key"), "{{REF}}"}},
		{
			name: "verify", areas: []string{filepath.Join(st.Signatures(), "sha256")}, args: []string{"verify", "--key", filepath.Join(keys, "k.pub"), "{{REF}}"}, swept: true,
			before: func(t *testing.T) {
				if err := os.MkdirAll(filepath.Join(st.Signatures(), "sha256"), 0o755); err != nil {
					t.Fatal(err)
				}
				clearDir(t, filepath.Join(st.Signatures(), "sha256"))
			},
		},
		{name: "verify from the cache", areas: []string{filepath.Join(st.Signatures(), "sha256")}, args: []string{"verify", "--key", filepath.Join(keys, "k.pub"), "{{REF}}"}},
		{name: "attest", areas: []string{filepath.Join(st.EvidenceRoot(), "fixture")}, args: []string{"attest", "--key", filepath.Join(keys, "k.key"), "{{REF}}"}, swept: true},
		{name: "lint never writes", areas: []string{st.Inventories().Dir, st.BuildCache()}, args: []string{"lint", "fixture:1.0"}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if s.before != nil {
				s.before(t)
			}
			var leftovers, kept []string
			for _, a := range s.areas {
				leftovers = append(leftovers, plantTemp(t, a, "killed", dead))
				kept = append(kept, plantTemp(t, a, "running", live))
			}
			args := append([]string{"--data-dir", data}, s.args...)
			for i, a := range args {
				args[i] = strings.ReplaceAll(a, "{{REF}}", host+"/golden/fixture@"+digest)
			}
			stdout, stderr, err := run(t, args...)
			if err != nil {
				t.Fatalf("%s: %v\n%s", s.name, err, stderr)
			}
			if s.name == "build" {
				digest = strings.TrimSpace(stdout)
			}
			if strings.Contains(stderr, "cleaning up") {
				t.Errorf("the sweep reported a problem: %s", stderr)
			}
			for _, p := range leftovers {
				_, err := os.Stat(p)
				if s.swept && !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("%s: a killed run's %s is still there", s.name, p)
				}
				if !s.swept && err != nil {
					t.Errorf("%s: swept %s, though it wrote nothing to the data directory (%v)", s.name, p, err)
				}
				_ = os.Remove(p)
			}
			for _, p := range kept {
				if _, err := os.Stat(p); err != nil {
					t.Errorf("%s: a live process's %s was removed: %v", s.name, p, err)
				}
				_ = os.Remove(p)
			}
		})
	}
}

// TestSweepFailureIsNotFatal: a data directory the sweep cannot read is reported on stderr (unless
// -q), and the command goes on.
func TestSweepFailureIsNotFatal(t *testing.T) {
	repo := testrepo.New(t, testrepo.Options{Packages: fixturePackages()})
	dir := writeSpec(t, repo, specTemplate)
	data := t.TempDir()
	st := store.Store{Root: data}
	// The build cache is a file, not a directory: the sweep cannot list it, and the build, for which
	// that cache is an optimisation, still succeeds.
	if err := os.MkdirAll(filepath.Dir(st.BuildCache()), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(st.BuildCache(), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, err := run(t, "--data-dir", data, "build", dir)
	if err != nil {
		t.Fatalf("build: %v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "warning: cleaning up after earlier runs") || !strings.Contains(stderr, "builds") {
		t.Errorf("stderr does not report the failed sweep:\n%s", stderr)
	}
	if err := os.Remove(filepath.Join(store.Store{Root: data}.Layouts().Dir("fixture"), "index.json")); err != nil {
		t.Fatal(err)
	}
	_, stderr, err = run(t, "--data-dir", data, "-q", "build", dir)
	if err != nil {
		t.Fatalf("build -q: %v\n%s", err, stderr)
	}
	if strings.Contains(stderr, "cleaning up") {
		t.Errorf("-q printed the sweep's warning:\n%s", stderr)
	}
}

// TestHelperIngot is not a test: TestKilledBuild runs the test binary again with only this selected,
// as an ingot process of its own that it can kill.
func TestHelperIngot(t *testing.T) {
	args := os.Getenv("INGOT_HELPER_ARGS")
	if args == "" {
		t.Skip("runs only as TestKilledBuild's child process")
	}
	cmd := New()
	cmd.SetArgs(strings.Split(args, "\n"))
	err := cmd.Execute()
	if err != nil {
		t.Logf("ingot: %v", err)
	}
	os.Exit(ExitCode(err))
}

// stallingArchive serves a repository's files; while stall is set, each .deb is cut off halfway and
// held open until the client goes away, so a build is caught mid-download.
func stallingArchive(t *testing.T, root string, stall *atomic.Bool) string {
	t.Helper()
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rel := path.Clean("/" + r.URL.Path)
		data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		if !stall.Load() || !strings.HasSuffix(rel, ".deb") {
			_, _ = w.Write(data)
			return
		}
		_, _ = w.Write(data[:len(data)/2])
		http.NewResponseController(w).Flush() //nolint:errcheck // the client sees half or nothing either way
		select {
		case <-r.Context().Done():
		case <-done:
		}
	}))
	t.Cleanup(func() {
		close(done)
		srv.Close()
	})
	return srv.URL
}

// TestKilledBuild kills an ingot build (kill -9) while it downloads packages, then builds again: the
// second build succeeds, and no temporary file of either run is left in the data directory.
func TestKilledBuild(t *testing.T) {
	repo := testrepo.New(t, testrepo.Options{Packages: fixturePackages()})
	var stall atomic.Bool
	url := stallingArchive(t, repo.Dir, &stall)
	dir := t.TempDir()
	spec := strings.NewReplacer("{{URL}}", url, "{{KEYRING}}", repo.Keyring).Replace(specTemplate)
	if err := os.WriteFile(filepath.Join(dir, "ingot.yaml"), []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	if _, stderr, err := run(t, "--data-dir", data, "lock", dir); err != nil {
		t.Fatalf("lock: %v\n%s", err, stderr)
	}

	stall.Store(true)
	child := exec.Command(os.Args[0], "-test.run=^TestHelperIngot$")
	child.Env = append(os.Environ(), "INGOT_HELPER_ARGS="+strings.Join([]string{"--data-dir", data, "build", dir}, "\n"))
	var out strings.Builder
	child.Stdout, child.Stderr = &out, &out
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- child.Wait() }()
	debs := filepath.Join(store.Store{Root: data}.Packages().Dir, "sha256")
	prefix := ".fetch.tmp-" + strconv.Itoa(child.Process.Pid) + "-"
	var partial []string
	for deadline := time.Now().Add(time.Minute); len(partial) == 0; {
		select {
		case err := <-exited:
			t.Fatalf("the build ended before it was killed: %v\n%s", err, out.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = child.Process.Kill()
			t.Fatalf("no partial download after a minute\n%s", out.String())
		}
		entries, _ := os.ReadDir(debs)
		for _, e := range entries {
			if fi, err := e.Info(); err == nil && strings.HasPrefix(e.Name(), prefix) && fi.Size() > 0 {
				partial = append(partial, filepath.Join(debs, e.Name()))
			}
		}
	}
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := <-exited; err == nil {
		t.Fatalf("the killed build exited successfully\n%s", out.String())
	}
	for _, p := range partial {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("the killed build's partial download %s: %v", p, err)
		}
	}
	t.Logf("the killed build left %d partial downloads", len(partial))

	stall.Store(false)
	stdout, stderr, err := run(t, "--data-dir", data, "build", dir)
	if err != nil {
		t.Fatalf("build after the kill: %v\n%s", err, stderr)
	}
	if d := strings.TrimSpace(stdout); !strings.HasPrefix(d, "sha256:") {
		t.Errorf("build printed %q, want a digest", stdout)
	}
	if left := tempFiles(t, data); len(left) > 0 {
		t.Errorf("temporary files left after the second build: %q", left)
	}
}
