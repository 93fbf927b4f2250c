package imagetest

import (
	"context"
	"runtime"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ingot-build/ingot/pkg/evidence"
)

// TestRunEachPlatform: the images of an index are each tested; command tests run only on this host's
// platform and are reported skipped, with the reason, on the others, while file and metadata tests
// run on every platform and see that platform's files.
func TestRunEachPlatform(t *testing.T) {
	other := "arm64"
	if runtime.GOARCH == "arm64" {
		other = "amd64"
	}
	s := &Suite{
		CommandTests:     []CommandTest{{Name: "runs", Command: "/bin/true"}},
		FileContentTests: []FileContentTest{{Name: "native", Path: "/arch", ExpectedContents: []string{"^" + runtime.GOARCH + "$"}}},
		MetadataTest:     &MetadataTest{Workdir: "/"},
	}
	for _, arch := range []string{runtime.GOARCH, other} {
		img := imageOf(t, arch, v1.Config{WorkingDir: "/"}, layerOf(t, append(baseEntries(), fileE("arch", 0o644, arch))...))
		fs, err := Run(context.Background(), img, s, Options{Runc: "/nonexistent/runc"})
		if err != nil {
			t.Fatal(err)
		}
		if len(fs) != 3 {
			t.Fatalf("%s: findings %+v, want the command, file and metadata tests", arch, fs)
		}
		if fs[0].Status != evidence.StatusSkipped || fs[0].Reason == "" {
			t.Errorf("%s: the command test is %s (%s), want skipped with a reason", arch, fs[0].Status, fs[0].Reason)
		}
		if arch == other && fs[0].Reason != "the image is for linux/"+other+" and this host runs linux/"+runtime.GOARCH {
			t.Errorf("%s: command test skipped because %q, want the platform named", arch, fs[0].Reason)
		}
		// The file test reads this platform's own /arch: it passes on the native image only.
		wantFile := evidence.StatusPassed
		if arch == other {
			wantFile = evidence.StatusFailed
		}
		if fs[1].Status != wantFile {
			t.Errorf("%s: the file test is %s, want %s: it read another platform's files", arch, fs[1].Status, wantFile)
		}
		if fs[2].Status != evidence.StatusPassed {
			t.Errorf("%s: the metadata test is %s, want passed", arch, fs[2].Status)
		}
	}
}
