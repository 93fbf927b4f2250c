package cli

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ingot-build/ingot/internal/regtest"
)

// countingTransport counts the requests that reach it.
type countingTransport struct {
	n    atomic.Int32
	base http.RoundTripper
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.base.RoundTrip(r)
}

// offlineFlags are global flags whose registry transport refuses anything but loopback and counts the
// requests it lets through.
func offlineFlags() (*globalFlags, *regtest.Offline, *countingTransport) {
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.Proxy = nil
	counted := &countingTransport{base: base}
	o := regtest.OfflineTransport(counted)
	return &globalFlags{transport: o}, o, counted
}

// writeFile writes a file under dir and returns its path.
func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestMissingLocalImage names images by paths that do not exist: every evidence verb says "no such
// file" with exit code 2, and nothing goes to any registry (before, ./none.tar went to Docker Hub).
func TestMissingLocalImage(t *testing.T) {
	t.Chdir(t.TempDir())
	data := t.TempDir()
	tests := writeFile(t, t.TempDir(), "tests.yaml", "fileExistenceTests:\n  - {name: no shell, path: /bin/sh, shouldExist: false}\n")
	g, offline, counted := offlineFlags()
	for _, verb := range [][]string{{"sbom"}, {"scan"}, {"secrets"}, {"lint"}, {"test", "--tests", tests}} {
		for _, ref := range []string{"./none.tar", "/nonexistent/x.tar", "oci:./nope", "../missing", "none.tar", "docker-archive:./gone"} {
			args := append(append([]string{"--data-dir", data}, verb...), ref)
			_, _, err := runWith(t, g, args...)
			if code := ExitCode(err); code != ExitUsage || err == nil || !strings.Contains(err.Error(), "no such file") {
				t.Errorf("ingot %s %s: exit %d, %v; want 2 and no such file", verb[0], ref, code, err)
			}
		}
	}
	if r := offline.Refused(); len(r) > 0 || counted.n.Load() > 0 {
		t.Errorf("missing local files reached for the network: %v, %d loopback requests", r, counted.n.Load())
	}
}

// TestRegistryPrefix: registry:REF reads from the registry through the command's transport, even for
// a name that would otherwise be taken for a file.
func TestRegistryPrefix(t *testing.T) {
	host := regtest.Registry(t)
	ref := host + "/golden/app.tar"
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	g, offline, counted := offlineFlags()
	if _, _, err := runWith(t, g, "--data-dir", data, "sbom", ref); ExitCode(err) != ExitUsage || !strings.Contains(err.Error(), "registry:"+ref) {
		t.Errorf("sbom %s: %v, want no such file with a hint at registry:", ref, err)
	}
	if n := counted.n.Load(); n != 0 {
		t.Fatalf("a name taken for a file made %d requests", n)
	}
	for _, verb := range [][]string{{"sbom", "-o", "json"}, {"secrets", "--fail-on", "none"}} {
		out, stderr, err := runWith(t, g, append(append([]string{"--data-dir", data}, verb...), "registry:"+ref)...)
		if err != nil {
			t.Fatalf("%s registry:%s: %v\n%s", verb[0], ref, err, stderr)
		}
		if !strings.Contains(out, "golden/app.tar") {
			t.Errorf("%s does not name the image:\n%s", verb[0], out)
		}
	}
	if counted.n.Load() == 0 {
		t.Error("registry:REF did not go through the command's transport")
	}
	if r := offline.Refused(); len(r) > 0 {
		t.Errorf("reached beyond loopback: %v", r)
	}
}

// TestBadInputExitCodes: every kind of bad input, to every verb, is exit code 2 with a message naming
// it, and none reaches a registry.
func TestBadInputExitCodes(t *testing.T) {
	t.Setenv("COSIGN_PASSWORD", "correct horse")
	tmp := t.TempDir()
	data := filepath.Join(tmp, "data")
	prefix := filepath.Join(tmp, "k")
	if _, stderr, err := run(t, "key", "generate", "--output-key-prefix", prefix); err != nil {
		t.Fatalf("key generate: %v\n%s", err, stderr)
	}
	garbage := writeFile(t, tmp, "garbage", "\x00\x01 this is no document at all")
	emptyDir := filepath.Join(tmp, "empty")
	if err := os.Mkdir(emptyDir, 0o755); err != nil {
		t.Fatal(err)
	}
	badLock := writeFile(t, tmp, "ingot.lock", `{"lockVersion": 1, "surprise": true}`)
	badTests := writeFile(t, tmp, "tests.yaml", "fileExistenceTest:\n  - {name: typo in the key}\n")
	tests := writeFile(t, tmp, "ok.yaml", "fileExistenceTests:\n  - {name: no shell, path: /bin/sh, shouldExist: false}\n")
	missing := filepath.Join(tmp, "missing")
	const (
		badRef = "Not/A:Ref!!"
		okRef  = "127.0.0.1:1/golden/app:1.0" // never reached: every case fails before
	)
	g, offline, counted := offlineFlags()
	for _, c := range []struct {
		args    []string
		mention string
	}{
		// Image references that do not parse, wherever an image is named.
		{[]string{"sbom", badRef}, "invalid image reference"},
		{[]string{"scan", badRef}, "invalid image reference"},
		{[]string{"secrets", badRef}, "invalid image reference"},
		{[]string{"lint", badRef}, "invalid image reference"},
		{[]string{"test", "--tests", tests, badRef}, "invalid image reference"},
		{[]string{"sign", "--key", prefix + ".key", badRef}, "image reference"},
		{[]string{"verify", "--key", prefix + ".pub", badRef}, "image reference"},
		{[]string{"attest", "--key", prefix + ".key", badRef}, "image reference"},
		{[]string{"copy", badRef, okRef}, "image reference"},
		{[]string{"copy", okRef, badRef}, "image reference"},
		{[]string{"build", "--push", badRef, emptyDir}, "image reference"},
		// Files given as input that are missing or not what they should be.
		{[]string{"sbom", "--lock", badLock, "./x.tar"}, "malformed lock"},
		{[]string{"sbom", "--lock", missing, "./x.tar"}, "no such file"},
		{[]string{"scan", "--sbom", garbage}, "not an SPDX or CycloneDX"},
		{[]string{"scan", "--sbom", missing}, "no such file"},
		{[]string{"scan", "--vex", garbage, "--sbom", garbage}, "invalid VEX document"},
		{[]string{"scan", "--vex", missing, "--sbom", garbage}, "invalid VEX document"},
		{[]string{"test", "--tests", badTests, "./x.tar"}, "fileExistenceTest"},
		{[]string{"test", "--tests", missing, "./x.tar"}, "no such file"},
		{[]string{"lock", missing}, "no spec"},
		{[]string{"build", emptyDir}, "no spec"},
		{[]string{"sign", "--key", garbage, okRef}, "not a key in cosign's format"},
		{[]string{"sign", "--key", missing, okRef}, "reading the key"},
		{[]string{"verify", "--key", garbage, okRef}, "not a key in cosign's format"},
		{[]string{"attest", "--key", prefix + ".key", "--type", "spdxjson", "--predicate", garbage, okRef}, "not JSON"},
		// Flags.
		{[]string{"sbom", "-o", "xml", "./x.tar"}, "-o xml"},
		{[]string{"scan", "-o", "xml", "--sbom", garbage}, "-o \"xml\""},
		{[]string{"secrets", "-o", "xml", "./x.tar"}, "-o \"xml\""},
		{[]string{"lint", "-o", "xml", "./x.tar"}, "-o \"xml\""},
		{[]string{"test", "-o", "xml", "--tests", tests, "./x.tar"}, "-o \"xml\""},
		{[]string{"verify", "-o", "xml", "--key", prefix + ".pub", okRef}, "-o \"xml\""},
		{[]string{"scan", "--unknown-as", "none", "--sbom", garbage}, "--unknown-as"},
		{[]string{"scan", "--fail-on", "severe", "--sbom", garbage}, "--fail-on"},
		{[]string{"secrets", "--fail-on", "severe", "./x.tar"}, "--fail-on"},
		{[]string{"lint", "--fail-on", "severe", "./x.tar"}, "--fail-on"},
		{[]string{"lint", "--profile", "strictest", "./x.tar"}, "unknown profile"},
		{[]string{"lint", "--waive", "INGOT-H999=typo", "./x.tar"}, "unknown rule"},
		{[]string{"secrets", "--allow", "no-such-rule:/x=why", "./x.tar"}, "no rule"},
		{[]string{"verify", "--key", prefix + ".pub", "--attestation", "nonsense", okRef}, "unknown predicate type"},
		{[]string{"attest", "--key", prefix + ".key", "--type", "nonsense", "--predicate", garbage, okRef}, "unknown predicate type"},
		{[]string{"sign", "--format", "pgp", "--key", prefix + ".key", okRef}, "signature format"},
	} {
		_, _, err := runWith(t, g, append([]string{"--data-dir", data}, c.args...)...)
		if code := ExitCode(err); code != ExitUsage || err == nil || !strings.Contains(err.Error(), c.mention) {
			t.Errorf("ingot %s: exit %d, %v; want 2 mentioning %q", strings.Join(c.args, " "), code, err, c.mention)
		}
	}

	// A wrong password for a good key is bad input too.
	t.Setenv("COSIGN_PASSWORD", "wrong")
	if _, _, err := runWith(t, g, "--data-dir", data, "sign", "--key", prefix+".key", okRef); ExitCode(err) != ExitUsage || !strings.Contains(err.Error(), "wrong password") {
		t.Errorf("sign with a wrong password: exit %d, %v", ExitCode(err), err)
	}
	if r := offline.Refused(); len(r) > 0 || counted.n.Load() > 0 {
		t.Errorf("bad input reached for the network: %v, %d loopback requests", r, counted.n.Load())
	}
}
