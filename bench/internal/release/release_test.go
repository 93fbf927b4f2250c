package release

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ingot-build/ingot/internal/regtest"
)

// A release build is static whatever the environment says, and Describe tells it from a cgo build.
func TestBuildIsStatic(t *testing.T) {
	regtest.Peer(t, "gcc") // for the cgo build it is compared with
	dir := t.TempDir()
	src := "package main\n\nimport (\n\t\"net\"\n\t\"os/user\"\n)\n\nfunc main() { _, _ = user.Current(); _, _ = net.LookupHost(\"localhost\") }\n"
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/m\n\ngo 1.24\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CGO_ENABLED", "1")
	static := filepath.Join(dir, "static")
	if err := Build(context.Background(), dir, static, "."); err != nil {
		t.Fatal(err)
	}
	if d := Describe(static); d != "(devel), static" {
		t.Errorf("release build: Describe %q", d)
	}
	dynamic := filepath.Join(dir, "dynamic")
	cmd := exec.Command(regtest.Peer(t, "go"), "build", "-o", dynamic, ".")
	cmd.Dir = dir
	if o, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cgo build: %v\n%s", err, o)
	}
	if d := Describe(dynamic); !strings.Contains(d, "cgo: not how its releases are built") {
		t.Errorf("cgo build: Describe %q", d)
	}
	if d := Describe(filepath.Join(dir, "main.go")); !strings.HasPrefix(d, "unknown build") {
		t.Errorf("not a binary: Describe %q", d)
	}
}
