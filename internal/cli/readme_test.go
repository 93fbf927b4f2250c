package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ingot-build/ingot/internal/regtest"
	"github.com/ingot-build/ingot/internal/testrepo"
)

// TestReadmeSigningCommands runs the README's signing example as a newcomer would paste it, with sh,
// against Debian's docker-registry on loopback: key generation, build --sign --push, ingot verify,
// and the cosign commands, once with cosign v2 and once with v3. Only the registry's host and the spec
// directory are replaced (the fixture repository stands in for the host's mirror); a command the
// README shows wrong fails the test.
func TestReadmeSigningCommands(t *testing.T) {
	block := readmeBlock(t, "## Signing and attestations")
	host := regtest.DockerRegistry(t)
	goBin := regtest.Peer(t, "go")
	bin := t.TempDir()
	build := exec.Command(goBin, "build", "-o", filepath.Join(bin, "ingot"), "github.com/ingot-build/ingot/cmd/ingot") //nolint:gosec // G204: the go tool, building this module
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	repo := testrepo.New(t, testrepo.Options{Packages: fixturePackages()})
	spec := writeSpec(t, repo, specTemplate)
	script := strings.NewReplacer("registry.example", host, "examples/static", spec).Replace(block)

	for _, major := range []int{2, 3} {
		t.Run("cosign v"+string(rune('0'+major)), func(t *testing.T) {
			cosign := regtest.Cosign(t, major)
			tools := t.TempDir()
			for name, target := range map[string]string{"ingot": filepath.Join(bin, "ingot"), "cosign": cosign} {
				if err := os.Symlink(target, filepath.Join(tools, name)); err != nil {
					t.Fatal(err)
				}
			}
			work := t.TempDir()
			cmd := exec.Command("/bin/sh", "-eux", "-c", script) //nolint:gosec // G204: the README's own commands
			cmd.Dir = work
			cmd.Env = append([]string{
				"PATH=" + tools + ":/usr/bin:/bin",
				"HOME=" + work,
				"TMPDIR=" + work,
				"INGOT_DATA_DIR=" + filepath.Join(work, "data"),
				"DOCKER_CONFIG=" + filepath.Join(work, ".docker"),
				"TUF_ROOT=" + filepath.Join(work, ".sigstore", "root"),
			}, regtest.OfflineTransport(nil).ProxyEnv(t)...)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("the README's signing example fails with cosign v%d: %v\n%s", major, err, tail(out))
			}
			// ingot verify, the provenance it prints, and cosign verify and verify-attestation.
			for _, want := range []string{"verified " + host, `"buildType":"https://ingot.build/buildtypes/image/v1"`, "The signatures were verified against the specified public key"} {
				if !strings.Contains(string(out), want) {
					t.Errorf("the example's output lacks %q:\n%s", want, tail(out))
				}
			}
			if n := strings.Count(string(out), "The signatures were verified against the specified public key"); n != 2 {
				t.Errorf("cosign verified %d times, want 2 (verify, verify-attestation)", n)
			}
		})
	}
}

// readmeBlock returns the first ```sh block after heading in the repository's README.
func readmeBlock(t *testing.T, heading string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(data), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("README has no %q", heading)
	}
	_, after, ok = strings.Cut(after, "```sh\n")
	if !ok {
		t.Fatalf("no sh block under %q", heading)
	}
	block, _, ok := strings.Cut(after, "```")
	if !ok {
		t.Fatalf("unterminated sh block under %q", heading)
	}
	return block
}

// tail is the end of a long output, where a failing command's message is.
func tail(b []byte) string {
	const keep = 6000
	if len(b) <= keep {
		return string(b)
	}
	return "[…]" + string(b[len(b)-keep:])
}
