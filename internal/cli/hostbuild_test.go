package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A container spec given to ingot host build, and a VM spec given to ingot build, are refused as bad
// input (exit 2) before anything is locked or written; a VM spec that fails validation names the field.
func TestHostBuildRefuses(t *testing.T) {
	vm, err := os.ReadFile(filepath.Join("..", "..", "examples", "vm", "ingot.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	container, err := os.ReadFile(filepath.Join("..", "..", "examples", "base", "ingot.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		spec []byte
		args []string
		want string
	}{
		{"container spec", container, []string{"host", "build"}, "has no vm section"},
		{"vm spec to build", vm, []string{"build"}, "built by ingot host build"},
		{"vm spec with entrypoint", append(vm, []byte("entrypoint: [/bin/sh]\n")...), []string{"host", "build"}, "entrypoint: applies to container images only"},
		{"mirror into an existing directory", vm, []string{"host", "mirror"}, "exists"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, data := t.TempDir(), t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "ingot.yaml"), tc.spec, 0o644); err != nil {
				t.Fatal(err)
			}
			args := append(append([]string{"--data-dir", data}, tc.args...), dir)
			if tc.args[len(tc.args)-1] == "mirror" {
				args = append(args, t.TempDir())
			}
			_, _, err := run(t, args...)
			if ExitCode(err) != ExitUsage || !strings.Contains(fmtErr(err), tc.want) {
				t.Fatalf("exit %d, %v; want exit %d and %q", ExitCode(err), err, ExitUsage, tc.want)
			}
			if _, err := os.Stat(filepath.Join(dir, "ingot.lock")); err == nil {
				t.Error("a lock was written")
			}
			if entries, _ := os.ReadDir(filepath.Join(data, "vm")); len(entries) > 0 {
				t.Errorf("the VM directory holds %d entries", len(entries))
			}
		})
	}
}
