package safefile

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

func TestSweepRemovesOnlyDeadRunsLeftovers(t *testing.T) {
	dir := t.TempDir()
	// A pid that is certainly gone: a child that has exited and been reaped.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := cmd.Process.Pid
	old := time.Now().Add(-2 * time.Hour)
	files := map[string]struct {
		mtime time.Time
		gone  bool
	}{
		".index.json.tmp-" + strconv.Itoa(dead) + "-123": {time.Now(), true},  // killed run
		".blob.tmp-" + strconv.Itoa(os.Getpid()) + "-9":  {time.Now(), false}, // live: this process
		".blob.tmp-" + strconv.Itoa(os.Getpid()) + "-8":  {time.Now().Add(-MaxTempAge - time.Hour), true},
		".fetch-12345":  {old, true},         // an older ingot's, old
		".evidence-777": {time.Now(), false}, // an older ingot's, recent
		"index.json":    {old, false},
		".lock":         {old, false},
		"0123456789abcdef0123456789abcdef0123456789abcdef01234567": {old, false},
	}
	for name, f := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, f.mtime, f.mtime); err != nil {
			t.Fatal(err)
		}
	}
	// A temporary directory of a dead run goes too, with its content.
	tmpDir := filepath.Join(dir, ".evidence.tmp-"+strconv.Itoa(dead)+"-5")
	if err := os.MkdirAll(filepath.Join(tmpDir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	removed, err := Sweep(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 4 {
		t.Errorf("removed %v, want 4 entries", removed)
	}
	for name, f := range files {
		_, err := os.Stat(filepath.Join(dir, name))
		if gone := os.IsNotExist(err); gone != f.gone {
			t.Errorf("%s: gone = %v, want %v", name, gone, f.gone)
		}
	}
	if _, err := os.Stat(tmpDir); !os.IsNotExist(err) {
		t.Errorf("dead run's temporary directory kept")
	}
	if removed, err := Sweep(filepath.Join(dir, "missing")); err != nil || removed != nil {
		t.Errorf("missing dir: %v, %v", removed, err)
	}
}

func TestTempNamesCarryThePid(t *testing.T) {
	dir := t.TempDir()
	f, err := CreateTemp(dir, "x")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	d, err := MkdirTemp(dir, "y")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{f.Name(), d} {
		if !IsTemp(filepath.Base(p)) || Stale(filepath.Base(p), time.Now(), time.Now()) {
			t.Errorf("%s: a live process's temporary entry must be temporary and not stale", p)
		}
	}
}
