package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ingot-build/ingot/internal/testrepo"
	"github.com/ingot-build/ingot/pkg/store"
)

func runFsck(t *testing.T, data string, args ...string) (*store.FsckReport, string, error) {
	t.Helper()
	stdout, _, err := run(t, append([]string{"--data-dir", data, "fsck", "-o", "json"}, args...)...)
	var r store.FsckReport
	if jerr := json.Unmarshal([]byte(stdout), &r); jerr != nil {
		t.Fatalf("fsck -o json printed %q (%v): %v", stdout, err, jerr)
	}
	return &r, stdout, err
}

// problemAt finds the problem reported for path.
func problemAt(r *store.FsckReport, path string) *store.Problem {
	for i := range r.Problems {
		if r.Problems[i].Path == path {
			return &r.Problems[i]
		}
	}
	return nil
}

// TestFsckCommand damages a data directory two builds filled (they share their package layer) and
// checks what fsck reports, what --repair repairs, and the exit codes.
func TestFsckCommand(t *testing.T) {
	repo := testrepo.New(t, testrepo.Options{Packages: fixturePackages()})
	data := t.TempDir()
	one := writeSpec(t, repo, specTemplate)
	two := writeSpec(t, repo, strings.Replace(specTemplate, "name: fixture", "name: fixture2", 1))
	for _, dir := range []string{one, two} {
		if _, stderr, err := run(t, "--data-dir", data, "build", dir); err != nil {
			t.Fatalf("build: %v\n%s", err, stderr)
		}
	}
	if r, _, err := runFsck(t, data); err != nil || len(r.Problems) != 0 {
		t.Fatalf("fsck of fresh builds: %v %+v", err, r.Problems)
	}
	if out, _, err := run(t, "--data-dir", data, "fsck"); err != nil || !strings.Contains(out, "no problems found") {
		t.Fatalf("fsck table of a clean directory: %v\n%s", err, out)
	}

	// The damage.
	blobs := fixtureBlobs(t, data)
	layer := blobOf(data, blobs.layers[0])
	if _, err := os.Stat(filepath.Join(store.Store{Root: data}.Layouts().Dir("fixture2"), "blobs", "sha256", blobs.layers[0].Hex)); err != nil {
		t.Fatalf("the two images do not share their layer: %v", err)
	}
	flipMiddle(t, layer)
	debs, _ := filepath.Glob(filepath.Join(store.Store{Root: data}.Packages().Dir, "sha256", "*"))
	if len(debs) == 0 {
		t.Fatal("no packages in the cache")
	}
	deb := debs[0]
	flipMiddle(t, deb)
	material := []byte(`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[]}`)
	sum := sha256.Sum256(material)
	sig := filepath.Join(store.Store{Root: data}.Signatures(), "sha256", hex.EncodeToString(sum[:]))
	material[len(material)/2] ^= 0x01
	writeTestFile(t, sig, material)
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	temp := filepath.Join(store.Store{Root: data}.Packages().Dir, "sha256", ".fetch.tmp-"+strconv.Itoa(dead.Process.Pid)+"-1")
	writeTestFile(t, temp, []byte("half a package"))
	want := map[string]string{layer: store.KindDamaged, deb: store.KindDamaged, sig: store.KindDamaged, temp: store.KindTemporary}

	r, _, err := runFsck(t, data)
	if ExitCode(err) != ExitFailure {
		t.Errorf("fsck of a damaged directory: exit %d (%v), want 1", ExitCode(err), err)
	}
	if len(r.Problems) != len(want) {
		t.Errorf("fsck found %+v, want %d problems", r.Problems, len(want))
	}
	for path, kind := range want {
		if p := problemAt(r, path); p == nil || p.Kind != kind || p.Repaired {
			t.Errorf("%s: %+v, want a %s problem", path, p, kind)
		}
	}
	out, _, _ := run(t, "--data-dir", data, "fsck")
	for path := range want {
		if !strings.Contains(out, path) {
			t.Errorf("the table does not list %s:\n%s", path, out)
		}
	}

	r, _, err = runFsck(t, data, "--repair")
	if err != nil {
		t.Fatalf("fsck --repair: %v (exit %d), want everything repaired: %+v", err, ExitCode(err), r.Problems)
	}
	for path := range want {
		if p := problemAt(r, path); p == nil || !p.Repaired {
			t.Errorf("%s: %+v, want it repaired", path, p)
		}
	}
	if p := problemAt(r, layer); p != nil && !strings.Contains(p.Action, (store.Store{Root: data}).Layouts().Dir("fixture2")) {
		t.Errorf("the layer was repaired by %q, want a copy from fixture2's layout", p.Action)
	}
	if r, _, err := runFsck(t, data); err != nil || len(r.Problems) != 0 {
		t.Errorf("fsck after the repair: %v %+v", err, r.Problems)
	}

	// A blob no other layout holds is left to the build, and fsck says so (exit 1).
	flipMiddle(t, blobOf(data, blobs.manifest)) // its annotations name the image: fixture2 has another
	r, _, err = runFsck(t, data, "--repair")
	if ExitCode(err) != ExitFailure || len(r.Problems) != 1 || r.Problems[0].Repaired || !strings.Contains(r.Problems[0].Action, "ingot build") {
		t.Fatalf("fsck --repair of a blob only one image has: exit %d, %+v", ExitCode(err), r.Problems)
	}
	if _, stderr, err := run(t, "--data-dir", data, "build", one); err != nil {
		t.Fatalf("build: %v\n%s", err, stderr)
	}
	if r, _, err := runFsck(t, data); err != nil || len(r.Problems) != 0 {
		t.Errorf("fsck after the build: %v %+v", err, r.Problems)
	}

	for _, args := range [][]string{{"fsck", "extra"}, {"fsck", "-o", "xml"}} {
		if _, _, err := run(t, append([]string{"--data-dir", data}, args...)...); ExitCode(err) != ExitUsage {
			t.Errorf("%v: exit %d (%v), want 2", args, ExitCode(err), err)
		}
	}
}

func writeTestFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
