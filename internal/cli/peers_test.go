package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/ingot-build/ingot/internal/regtest"
	"github.com/ingot-build/ingot/internal/testrepo"
	"github.com/ingot-build/ingot/pkg/store"
)

// buildHello compiles examples/hello into dir, statically, as its README says.
func buildHello(t *testing.T, dir string) string {
	t.Helper()
	out := filepath.Join(dir, "hello")
	// go test puts its own GOROOT/bin first on PATH, so this is the toolchain running the test.
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("finding the go command: %v", err)
	}
	cmd := exec.Command(goBin, "build", "-trimpath", "-o", out, "../../examples/hello")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building examples/hello: %v\n%s", err, b)
	}
	return out
}

const helloSpec = `name: hello
version: "1.0"
repositories:
  - url: {{URL}}
    suite: stable
    keyring: {{KEYRING}}
packages: [base-files, tzdata]
exclude: [debconf, awk]
files:
  - {source: hello, path: /usr/local/bin/hello, mode: "0755"}
entrypoint: [/usr/local/bin/hello]
`

// TestHelloRunsUnderRunc builds examples/hello into an image, unpacks it with umoci and runs it with
// runc, without network: it must greet, as the nonroot user.
func TestHelloRunsUnderRunc(t *testing.T) {
	umoci := regtest.Peer(t, "umoci")
	runc := regtest.Peer(t, "runc")
	regtest.Root(t, "runc")
	repo := testrepo.New(t, testrepo.Options{Packages: fixturePackages()})
	dir := writeSpec(t, repo, helloSpec)
	buildHello(t, dir)
	data := t.TempDir()
	if _, stderr, err := run(t, "--data-dir", data, "build", dir); err != nil {
		t.Fatalf("build: %v\n%s", err, stderr)
	}
	bundle := filepath.Join(t.TempDir(), "bundle")
	if out, err := exec.Command(umoci, "unpack", "--image", (store.Store{Root: data}).Layouts().Dir("hello")+":1.0", bundle).CombinedOutput(); err != nil {
		t.Fatalf("umoci unpack: %v\n%s", err, out)
	}
	// umoci writes a bundle for an interactive terminal; a test has none.
	cfgPath := filepath.Join(bundle, "config.json")
	raw, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["process"].(map[string]any)["terminal"] = false
	if raw, err = json.Marshal(cfg); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	id := fmt.Sprintf("ingot-test-%d", time.Now().UnixNano())
	cmd := exec.CommandContext(ctx, runc, "--root", filepath.Join(t.TempDir(), "runc"), "run", "--bundle", bundle, id)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("runc run: %v\n%s", err, out)
	}
	if want := "Hello from a golden image! (uid 65532)"; !strings.Contains(string(out), want) {
		t.Errorf("runc printed %q, want %q", out, want)
	}
}

func TestPushToDockerRegistry(t *testing.T) {
	addr := regtest.DockerRegistry(t)
	repo := testrepo.New(t, testrepo.Options{Packages: fixturePackages()})
	dir := writeSpec(t, repo, specTemplate+"layers: 2\n")
	ref := addr + "/golden/fixture:1.0"
	stdout, stderr, err := run(t, "--data-dir", t.TempDir(), "build", "--push", ref, dir)
	if err != nil {
		t.Fatalf("build --push: %v\n%s", err, stderr)
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r)
	if err != nil {
		t.Fatalf("reading the pushed image back: %v", err)
	}
	d, _ := img.Digest()
	if d.String() != strings.TrimSpace(stdout) {
		t.Errorf("registry holds %s, build printed %s", d, stdout)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 2 {
		t.Errorf("pushed image has %d layers (%v), want 2", len(layers), err)
	}
}

func TestBuildTarball(t *testing.T) {
	repo := testrepo.New(t, testrepo.Options{Packages: fixturePackages()})
	dir := writeSpec(t, repo, specTemplate)
	out := filepath.Join(t.TempDir(), "fixture.tar")
	if _, stderr, err := run(t, "--data-dir", t.TempDir(), "build", "--tarball", out, dir); err != nil {
		t.Fatalf("build --tarball: %v\n%s", err, stderr)
	}
	tag, _ := name.NewTag("fixture:1.0")
	img, err := tarball.ImageFromPath(out, &tag)
	if err != nil {
		t.Fatalf("the archive is not a docker-load archive tagged fixture:1.0: %v", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil || cfg.Config.User == "" || cfg.Config.User == "0" || cfg.Config.User == "root" {
		t.Errorf("archive config user = %q (%v), want nonroot", cfg.Config.User, err)
	}
}
