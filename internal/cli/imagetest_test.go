package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ingot-build/ingot/internal/regtest"
	"github.com/ingot-build/ingot/pkg/build"
	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/imagetest"
	"github.com/ingot-build/ingot/pkg/publish"
	"github.com/ingot-build/ingot/pkg/store"
)

// testFixture stores examples/hello, built statically into a nonroot image by pkg/build, in a new data
// directory as hello:1.0, and a two-platform index of it as multi:1.0.
func testFixture(t *testing.T) string {
	t.Helper()
	hello, err := os.ReadFile(buildHello(t, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	image := func(arch string) v1.Image {
		img, err := build.Image(context.Background(), build.Options{
			Arch: arch,
			Accounts: build.Accounts{
				Groups: []build.Group{{Name: "nonroot", GID: 65532}},
				Users:  []build.User{{Name: "nonroot", UID: 65532, GID: 65532, Home: "/home/nonroot"}},
				RunAs:  "nonroot",
			},
			Files:     []build.File{{Path: "/usr/local/bin/hello", Mode: 0o755, Data: hello}},
			Config:    build.Config{Entrypoint: []string{"/usr/local/bin/hello"}, Labels: map[string]string{"team": "platform"}},
			OSRelease: build.OSRelease{ID: "debian", Name: "Debian GNU/Linux", VersionID: "12"},
			Epoch:     time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC),
		})
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	other := "arm64"
	if runtime.GOARCH == "arm64" {
		other = "amd64"
	}
	native := image(runtime.GOARCH)
	idx, err := build.Index([]v1.Image{native, image(other)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	dataDir := t.TempDir()
	store := store.Store{Root: dataDir}.Layouts()
	if _, err := store.Write(context.Background(), "hello", "1.0", publish.Artifact{Image: native}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Write(context.Background(), "multi", "1.0", publish.Artifact{Index: idx}); err != nil {
		t.Fatal(err)
	}
	return dataDir
}

func runImageTest(t *testing.T, dataDir, suite string, args ...string) (string, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tests.yaml")
	if err := os.WriteFile(path, []byte(suite), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, stderr bytes.Buffer
	cmd := newTestCmd(&globalFlags{dataDir: dataDir, transport: regtest.OfflineTransport(nil)})
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.SetArgs(append(args, "--tests", path))
	cmd.SetOut(&out)
	cmd.SetErr(&stderr)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

const passingTests = `
fileExistenceTests:
  - {name: no shell, path: /bin/sh, shouldExist: false}
  - {name: hello, path: /usr/local/bin/hello, shouldExist: true, permissions: "-rwxr-xr-x", uid: 0, gid: 0, isExecutableBy: any}
fileContentTests:
  - {name: os, path: /etc/os-release, expectedContents: ['(?m)^ID="?debian"?$'], excludedContents: ["ubuntu"]}
metadataTest:
  user: "65532:65532"
  entrypoint: [/usr/local/bin/hello]
  labels: [{key: team, value: platform}]
`

func decodeReport(t *testing.T, out string) evidence.Report {
	t.Helper()
	var r evidence.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("-o json printed %q: %v", out, err)
	}
	return r
}

func TestImageTestCommand(t *testing.T) {
	dataDir := testFixture(t)
	t.Run("passing", func(t *testing.T) {
		out, err := runImageTest(t, dataDir, passingTests, "hello:1.0", "-o", "json")
		if err != nil {
			t.Fatalf("ingot test: %v\n%s", err, out)
		}
		r := decodeReport(t, out)
		if r.Tool != "ingot test" || r.Image.Ref != "hello:1.0" || !strings.HasPrefix(r.Image.Digest, "sha256:") || len(r.Findings) != 4 {
			t.Fatalf("report %+v", r)
		}
		for _, f := range r.Findings {
			if f.Kind != evidence.KindTest || f.Status != evidence.StatusPassed {
				t.Errorf("%s: %s (%s)", f.ID, f.Status, f.Description)
			}
		}
	})
	t.Run("failing", func(t *testing.T) {
		suite := passingTests + "  workdir: /srv\n"
		out, err := runImageTest(t, dataDir, suite, "hello:1.0")
		var fe *FindingsError
		if !errors.As(err, &fe) || fe.Count != 1 || ExitCode(err) != ExitFindings {
			t.Fatalf("a failed test gave %v (exit %d), want exit 3 for one finding", err, ExitCode(err))
		}
		if !strings.Contains(out, "metadata") || !strings.Contains(out, "failed") || !strings.Contains(out, `workdir is "", want "/srv"`) || !strings.Contains(out, "1 high") {
			t.Errorf("table does not show the failed metadata test:\n%s", out)
		}
	})
	t.Run("sarif", func(t *testing.T) {
		out, err := runImageTest(t, dataDir, "fileExistenceTests:\n  - {name: shell, path: /bin/sh, shouldExist: true}\n", "hello:1.0", "-o", "sarif")
		if ExitCode(err) != ExitFindings {
			t.Fatalf("exit %d (%v), want 3", ExitCode(err), err)
		}
		var log struct {
			Runs []struct {
				Results []struct{ RuleID string }
			}
		}
		if err := json.Unmarshal([]byte(out), &log); err != nil || len(log.Runs) != 1 || len(log.Runs[0].Results) != 1 || log.Runs[0].Results[0].RuleID != "shell" {
			t.Errorf("SARIF %s (%v)", out, err)
		}
	})
	t.Run("index", func(t *testing.T) {
		// Every platform's files and metadata are tested; command tests only where they can run.
		suite := passingTests + "commandTests:\n  - {name: greets, command: /usr/local/bin/hello}\n"
		out, err := runImageTest(t, dataDir, suite, "multi:1.0", "-o", "json", "--runc", "/nonexistent/runc")
		if err != nil {
			t.Fatalf("ingot test: %v\n%s", err, out)
		}
		rs := decodeIndexReports(t, out, "multi:1.0", 2)
		other := otherArch()
		for i, arch := range []string{runtime.GOARCH, other} {
			r := rs[i]
			if r.Image.Arch != arch || len(r.Findings) != 5 {
				t.Fatalf("platform %d: %s with %d findings, want %s with the command test and 4 others", i, r.Image.Arch, len(r.Findings), arch)
			}
			for _, f := range r.Findings {
				switch {
				case f.Detail["type"] == imagetest.TypeCommand && f.Status != evidence.StatusSkipped:
					t.Errorf("%s: command test %s, want skipped", arch, f.Status)
				case f.Detail["type"] == imagetest.TypeCommand && arch == other && !strings.Contains(f.Reason, "linux/"+other):
					t.Errorf("%s: command test skipped because %q, want the platform named", arch, f.Reason)
				case f.Detail["type"] != imagetest.TypeCommand && f.Status != evidence.StatusPassed:
					t.Errorf("%s: %s %s (%s)", arch, f.ID, f.Status, f.Description)
				}
			}
		}
		// The table has a section per platform.
		out, err = runImageTest(t, dataDir, passingTests, "multi:1.0")
		if err != nil || !strings.Contains(out, "== linux/"+runtime.GOARCH+" sha256:") || !strings.Contains(out, "== linux/"+other) {
			t.Errorf("table of an index: %v\n%s", err, out)
		}
		// A failure on one platform fails the run: here a file test both fail, counted twice.
		_, err = runImageTest(t, dataDir, "fileExistenceTests:\n  - {name: shell, path: /bin/sh, shouldExist: true}\n", "multi:1.0")
		var fe *FindingsError
		if !errors.As(err, &fe) || fe.Count != 2 {
			t.Errorf("a test failing on both platforms: %v, want 2 findings", err)
		}
		// --platform picks one; a platform the index lacks is bad input.
		out, err = runImageTest(t, dataDir, passingTests, "multi:1.0", "-o", "json", "--platform", "linux/"+other)
		if err != nil {
			t.Fatal(err)
		}
		if rs := decodeIndexReports(t, out, "multi:1.0", 1); rs[0].Image.Arch != other {
			t.Errorf("--platform linux/%s tested %s", other, rs[0].Image.Arch)
		}
		_, err = runImageTest(t, dataDir, passingTests, "multi:1.0", "--platform", "linux/s390x")
		if ExitCode(err) != ExitUsage || !strings.Contains(err.Error(), "linux/"+runtime.GOARCH) {
			t.Errorf("an unknown platform: %v (exit %d), want exit 2 naming the index's platforms", err, ExitCode(err))
		}
	})
	for _, tc := range []struct {
		name, suite string
		args        []string
		want        string
	}{
		{"unknown field", "fileExistenceTests:\n  - {name: a, path: /a, shouldexist: true}\n", []string{"hello:1.0"}, "field shouldexist not found"},
		{"invalid test", "fileExistenceTests:\n  - {name: a, path: a}\n", []string{"hello:1.0"}, "fileExistenceTests[0].path"},
		{"bad format", passingTests, []string{"hello:1.0", "-o", "xml"}, `-o "xml"`},
		{"no image", passingTests, nil, "accepts 1 arg"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runImageTest(t, dataDir, tc.suite, tc.args...)
			if ExitCode(err) != ExitUsage || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v (exit %d), want exit 2 saying %q", err, ExitCode(err), tc.want)
			}
		})
	}
	t.Run("missing tests flag", func(t *testing.T) {
		cmd := newTestCmd(&globalFlags{dataDir: dataDir, transport: regtest.OfflineTransport(nil)})
		cmd.SilenceUsage, cmd.SilenceErrors = true, true
		cmd.SetArgs([]string{"hello:1.0"})
		cmd.SetOut(&bytes.Buffer{})
		if err := cmd.Execute(); ExitCode(err) != ExitUsage {
			t.Errorf("without --tests: %v (exit %d), want exit 2", err, ExitCode(err))
		}
	})
	t.Run("missing image", func(t *testing.T) {
		_, err := runImageTest(t, dataDir, passingTests, "oci:"+filepath.Join(t.TempDir(), "nothing"))
		if err == nil || ExitCode(err) == ExitOK || ExitCode(err) == ExitFindings {
			t.Errorf("a missing image gave %v (exit %d)", err, ExitCode(err))
		}
	})
}

// TestImageTestCommandRunc runs command tests through the CLI: examples/hello greets as nonroot, and a
// wrong expectation fails the run with exit 3.
func TestImageTestCommandRunc(t *testing.T) {
	runc := regtest.Peer(t, "runc")
	regtest.Root(t, "runc")
	dataDir := testFixture(t)
	suite := `commandTests:
  - name: hello greets
    command: /usr/local/bin/hello
    expectedOutput: ['^Hello from a golden image! \(uid 65532\)\n$']
    exitCode: 0
    timeout: 20s
`
	out, err := runImageTest(t, dataDir, suite, "hello:1.0", "--runc", runc, "-o", "json")
	if err != nil {
		t.Fatalf("ingot test: %v\n%s", err, out)
	}
	if r := decodeReport(t, out); len(r.Findings) != 1 || r.Findings[0].Status != evidence.StatusPassed {
		t.Fatalf("findings %+v", r.Findings)
	}
	out, err = runImageTest(t, dataDir, strings.Replace(suite, "exitCode: 0", "exitCode: 1", 1), "hello:1.0", "--runc", runc)
	if ExitCode(err) != ExitFindings || !strings.Contains(out, "exit code 0, want 1") {
		t.Errorf("a wrong exit code gave %v (exit %d):\n%s", err, ExitCode(err), out)
	}
}

func otherArch() string {
	if runtime.GOARCH == "arm64" {
		return "amd64"
	}
	return "arm64"
}

// decodeIndexReports reads the JSON of an index's reports: the index, then each platform's report as
// a single image's prints.
func decodeIndexReports(t *testing.T, out, ref string, n int) []evidence.Report {
	t.Helper()
	var v struct {
		Index struct {
			Ref, Digest string
		}
		Platforms []evidence.Report
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("-o json of an index printed %q: %v", out, err)
	}
	if v.Index.Ref != ref || !strings.HasPrefix(v.Index.Digest, "sha256:") || len(v.Platforms) != n {
		t.Fatalf("index %+v with %d platforms, want %s with %d", v.Index, len(v.Platforms), ref, n)
	}
	for _, r := range v.Platforms {
		if r.Image.Ref != ref || r.Image.Digest == v.Index.Digest || !strings.HasPrefix(r.Image.Digest, "sha256:") {
			t.Errorf("platform report about %+v", r.Image)
		}
	}
	return v.Platforms
}
