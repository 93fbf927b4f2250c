package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ingot-build/ingot/internal/regtest"
	"github.com/ingot-build/ingot/internal/testrepo"
)

// TestBuildStdoutIsTheDigest: a script reads build's standard output as the digest, whatever else the
// build did (locked first, pushed, signed, attested, wrote a tarball): all of that is on stderr.
// --push without a tag pushes the version's immutable tag and the moving ones: the spec's version
// and latest.
func TestBuildStdoutIsTheDigest(t *testing.T) {
	t.Setenv("COSIGN_PASSWORD", "correct horse")
	host := regtest.Registry(t)
	repo := testrepo.New(t, testrepo.Options{Packages: fixturePackages()})
	dir := writeSpec(t, repo, specTemplate+"evidence: {fail-on: none}\n")
	data := t.TempDir()
	prefix := filepath.Join(t.TempDir(), "ingot")
	if _, stderr, err := run(t, "key", "generate", "--output-key-prefix", prefix); err != nil {
		t.Fatalf("key generate: %v\n%s", err, stderr)
	}
	g := &globalFlags{transport: regtest.OfflineTransport(nil)}
	stdout, stderr, err := runWith(t, g, "--data-dir", data, "build", "--push", host+"/golden/app",
		"--sign", "--key", prefix+".key", "--tarball", filepath.Join(t.TempDir(), "app.tar"), dir)
	if err != nil {
		t.Fatalf("build: %v\n%s", err, stderr)
	}
	if !regexp.MustCompile(`^sha256:[0-9a-f]{64}\n$`).MatchString(stdout) {
		t.Fatalf("build's stdout is %q, want one line: the digest", stdout)
	}
	digest := strings.TrimSpace(stdout)
	for _, want := range []string{"wrote " + filepath.Join(dir, "ingot.lock"), "stored in", "pushed ", "signed ", "attested "} {
		if !strings.Contains(stderr, want) {
			t.Errorf("build's stderr does not report %q:\n%s", want, stderr)
		}
	}

	// The first version of release line 1.0: 1.0-r1, and the moving tags 1.0 and latest.
	for _, tag := range []string{"1.0-r1", "1.0", "latest"} {
		d, err := remote.Head(mustTag(t, host+"/golden/app:"+tag))
		if err != nil || d.Digest.String() != digest {
			t.Errorf("%s/golden/app:%s = %v, %v; want %s", host, tag, d, err, digest)
		}
	}

	// lock writes ingot.lock and reports on stderr; its stdout stays empty.
	stdout, stderr, err = run(t, "--data-dir", data, "lock", "--update", dir)
	if err != nil || stdout != "" || !strings.Contains(stderr, "locked ") {
		t.Errorf("lock --update: %v, stdout %q, stderr %q", err, stdout, stderr)
	}
}

// TestBuildFlagMistakes: flags that cannot mean what they say are refused (exit 2) before the spec is
// locked or anything is built.
func TestBuildFlagMistakes(t *testing.T) {
	repo := testrepo.New(t, testrepo.Options{Packages: fixturePackages()})
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"--key without --sign", []string{"--key", "ingot.key"}, "--key and --key-password-file need --sign"},
		{"--key without --sign, with --push", []string{"--key", "ingot.key", "--push", "localhost:5000/app"}, "--key and --key-password-file need --sign"},
		{"--key-password-file without --sign", []string{"--key-password-file", "pw"}, "--key and --key-password-file need --sign"},
		{"--push by digest", []string{"--push", "localhost:5000/app@sha256:" + strings.Repeat("a", 64)}, "names a digest"},
		{"--push by tag and digest", []string{"--push", "localhost:5000/app:1.0@sha256:" + strings.Repeat("a", 64)}, "names a digest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeSpec(t, repo, specTemplate)
			data := t.TempDir()
			_, _, err := run(t, append(append([]string{"--data-dir", data, "build"}, tc.args...), dir)...)
			if ExitCode(err) != ExitUsage || !strings.Contains(fmtErr(err), tc.want) {
				t.Fatalf("err = %v (exit %d), want exit 2 saying %q", err, ExitCode(err), tc.want)
			}
			if _, err := os.Stat(filepath.Join(dir, "ingot.lock")); err == nil {
				t.Error("the spec was locked before the flags were refused")
			}
		})
	}
}

func mustTag(t *testing.T, s string) name.Tag {
	t.Helper()
	tag, err := name.NewTag(s)
	if err != nil {
		t.Fatal(err)
	}
	return tag
}
