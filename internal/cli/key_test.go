//go:build linux

package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ingot-build/ingot/internal/regtest"
	"github.com/ingot-build/ingot/internal/testrepo"
	"github.com/ingot-build/ingot/pkg/sign"
)

// runKey runs `ingot key ARGS` with stdin in, as the root command would.
func runKey(t *testing.T, in io.Reader, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := newKeyCmd(&globalFlags{})
	cmd.SetArgs(args)
	cmd.SetIn(in)
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	err = cmd.ExecuteContext(t.Context())
	return out.String(), errb.String(), err
}

// unsetPassword removes COSIGN_PASSWORD for this test (t.Setenv restores it afterwards).
func unsetPassword(t *testing.T) {
	t.Helper()
	t.Setenv(passwordEnv, "")
	if err := os.Unsetenv(passwordEnv); err != nil {
		t.Fatal(err)
	}
}

// loadKeyPair loads prefix.key with password and checks it signs what prefix.pub verifies.
func loadKeyPair(t *testing.T, prefix, password string) {
	t.Helper()
	priv, err := os.ReadFile(prefix + ".key")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := os.ReadFile(prefix + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	s, err := sign.LoadPrivateKey(priv, []byte(password))
	if err != nil {
		t.Fatalf("loading %s.key: %v", prefix, err)
	}
	v, err := sign.LoadPublicKey(pub)
	if err != nil {
		t.Fatalf("loading %s.pub: %v", prefix, err)
	}
	sig, err := s.Sign(t.Context(), []byte("payload"))
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Verify([]byte("payload"), sig); err != nil {
		t.Errorf("%s.pub does not verify %s.key's signature: %v", prefix, prefix, err)
	}
	if _, err := sign.LoadPrivateKey(priv, []byte(password+"x")); !errors.Is(err, sign.ErrWrongPassword) {
		t.Errorf("another password: %v, want ErrWrongPassword", err)
	}
	fi, err := os.Stat(prefix + ".key")
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s.key has mode %v, want 0600", prefix, fi.Mode().Perm())
	}
}

func TestKeyGenerate(t *testing.T) {
	for _, tc := range []struct {
		name     string
		password string
	}{
		{"password", "s3cret"},
		{"empty COSIGN_PASSWORD means no password", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(passwordEnv, tc.password)
			prefix := filepath.Join(t.TempDir(), "release")
			stdout, _, err := runKey(t, strings.NewReader(""), "generate", "--output-key-prefix", prefix)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(stdout, prefix+".key") || !strings.Contains(stdout, prefix+".pub") {
				t.Errorf("output does not name the files: %q", stdout)
			}
			loadKeyPair(t, prefix, tc.password)
		})
	}
}

// Without --output-key-prefix the files are ingot.key and ingot.pub in the current directory.
func TestKeyGenerateDefaultPrefix(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv(passwordEnv, "pw")
	if _, _, err := runKey(t, strings.NewReader(""), "generate"); err != nil {
		t.Fatal(err)
	}
	loadKeyPair(t, filepath.Join(dir, "ingot"), "pw")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Errorf("the directory holds %d entries, want only ingot.key and ingot.pub (no temporary files)", len(entries))
	}
}

func TestKeyGenerateRefusesOverwrite(t *testing.T) {
	t.Setenv(passwordEnv, "pw")
	for _, existing := range []string{".key", ".pub"} {
		t.Run(existing, func(t *testing.T) {
			prefix := filepath.Join(t.TempDir(), "k")
			old := []byte("precious\n")
			if err := os.WriteFile(prefix+existing, old, 0o600); err != nil {
				t.Fatal(err)
			}
			_, _, err := runKey(t, strings.NewReader(""), "generate", "--output-key-prefix", prefix)
			if err == nil || ExitCode(err) != ExitUsage || !strings.Contains(err.Error(), "--force") {
				t.Fatalf("generate over an existing %s: %v (exit %d), want a usage error naming --force", existing, err, ExitCode(err))
			}
			if got, _ := os.ReadFile(prefix + existing); !bytes.Equal(got, old) {
				t.Errorf("the existing %s was changed", existing)
			}
			for _, other := range []string{".key", ".pub"} {
				if other == existing {
					continue
				}
				if _, err := os.Stat(prefix + other); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("a refused generate left %s behind", other)
				}
			}
			if _, _, err := runKey(t, strings.NewReader(""), "generate", "--output-key-prefix", prefix, "--force"); err != nil {
				t.Fatalf("--force: %v", err)
			}
			loadKeyPair(t, prefix, "pw")
		})
	}
}

func TestKeyGenerateNoPasswordSource(t *testing.T) {
	unsetPassword(t)
	prefix := filepath.Join(t.TempDir(), "k")
	_, _, err := runKey(t, strings.NewReader("typed\ntyped\n"), "generate", "--output-key-prefix", prefix)
	if ExitCode(err) != ExitUsage || err == nil || !strings.Contains(err.Error(), passwordEnv) {
		t.Fatalf("no COSIGN_PASSWORD and no terminal: %v (exit %d), want a usage error naming %s", err, ExitCode(err), passwordEnv)
	}
	if _, err := os.Stat(prefix + ".key"); !errors.Is(err, os.ErrNotExist) {
		t.Error("a key was written without a password")
	}
}

// TestKeyPasswordFile: with --key-password-file, neither COSIGN_PASSWORD nor a terminal is needed to
// make a key and to sign with it, as in a worker; its first line is the password, a wrong one or a
// missing file fails before anything is sent, and the flag wins over COSIGN_PASSWORD.
func TestKeyPasswordFile(t *testing.T) {
	unsetPassword(t)
	dir := t.TempDir()
	pwFile, wrongFile := filepath.Join(dir, "pw"), filepath.Join(dir, "wrong")
	if err := os.WriteFile(pwFile, []byte("s3cret pass\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(wrongFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	prefix := filepath.Join(dir, "worker")
	if _, stderr, err := runKey(t, strings.NewReader(""), "generate", "--output-key-prefix", prefix, "--key-password-file", pwFile); err != nil {
		t.Fatalf("key generate --key-password-file: %v\n%s", err, stderr)
	}
	loadKeyPair(t, prefix, "s3cret pass")

	host := regtest.Registry(t)
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref := host + "/worker/app:1"
	if err := remote.Write(mustRef(t, ref), img); err != nil {
		t.Fatal(err)
	}
	t.Setenv(passwordEnv, "not it")
	g := &globalFlags{transport: regtest.OfflineTransport(nil)}
	if _, stderr, err := runWith(t, g, "--data-dir", t.TempDir(), "sign", "--key", prefix+".key", "--key-password-file", pwFile, ref); err != nil {
		t.Fatalf("sign --key-password-file: %v\n%s", err, stderr)
	}
	if _, stderr, err := runWith(t, g, "--data-dir", t.TempDir(), "verify", "--key", prefix+".pub", ref); err != nil {
		t.Fatalf("verify: %v\n%s", err, stderr)
	}
	for _, tc := range []struct{ file, want string }{{wrongFile, "password"}, {filepath.Join(dir, "absent"), "--key-password-file"}} {
		_, _, err := runWith(t, g, "--data-dir", t.TempDir(), "sign", "--key", prefix+".key", "--key-password-file", tc.file, ref)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("sign --key-password-file %s: %v, want an error about the %s", tc.file, err, tc.want)
		}
	}
}

// openPTY returns the two ends of a new pseudo-terminal: what the user types goes into the primary,
// the command reads the secondary as its terminal.
func openPTY(t *testing.T) (primary, secondary *os.File) {
	t.Helper()
	p, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	if err := unix.IoctlSetPointerInt(int(p.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlocking the pty: %v", err)
	}
	n, err := unix.IoctlGetInt(int(p.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("naming the pty: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("opening the pty: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	// Drain what the terminal echoes back so the writer never blocks.
	go func() { _, _ = io.Copy(io.Discard, p) }()
	return p, s
}

// On a terminal the password is asked twice; a mismatch writes nothing.
func TestKeyGeneratePrompts(t *testing.T) {
	unsetPassword(t)
	for _, tc := range []struct {
		name   string
		typed  string
		wantOK bool
	}{
		{"same twice", "typed pw\ntyped pw\n", true},
		{"mismatch", "typed pw\nother pw\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			primary, secondary := openPTY(t)
			if _, err := primary.WriteString(tc.typed); err != nil {
				t.Fatal(err)
			}
			prefix := filepath.Join(t.TempDir(), "k")
			done := make(chan error, 1)
			var stderr string
			go func() {
				var err error
				_, stderr, err = runKey(t, secondary, "generate", "--output-key-prefix", prefix)
				done <- err
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("generate is still waiting at the prompt")
			}
			if !tc.wantOK {
				if ExitCode(err) != ExitUsage || !strings.Contains(fmt.Sprint(err), "do not match") {
					t.Fatalf("mismatched passwords: %v, want a usage error", err)
				}
				if _, err := os.Stat(prefix + ".key"); !errors.Is(err, os.ErrNotExist) {
					t.Error("a key was written after mismatched passwords")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Count(stderr, "password") != 2 {
				t.Errorf("prompts: %q, want two", stderr)
			}
			loadKeyPair(t, prefix, "typed pw")
		})
	}
}

// TestWrongHalfOfTheKeyPair: the private key given to verify, or the public key to sign, attest or
// build --sign, is bad input (exit 2) that names the key each verb takes, before any password is asked
// for or anything is built; a file that is no key at all keeps the format error.
func TestWrongHalfOfTheKeyPair(t *testing.T) {
	t.Setenv(passwordEnv, "correct horse")
	dir := t.TempDir()
	prefix := filepath.Join(dir, "ingot")
	if _, stderr, err := run(t, "key", "generate", "--output-key-prefix", prefix); err != nil {
		t.Fatalf("key generate: %v\n%s", err, stderr)
	}
	unsetPassword(t) // the mix-up is found before a password is needed
	key, pub := prefix+".key", prefix+".pub"
	garbage := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(garbage, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	repo := testrepo.New(t, testrepo.Options{Packages: fixturePackages()})
	spec := writeSpec(t, repo, specTemplate)
	const ref = "127.0.0.1:1/golden/app:1.0" // never reached
	g, offline, counted := offlineFlags()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"verify", "--key", key, ref}, key + " is a private key: verify takes the public key (" + pub + ")"},
		{[]string{"sign", "--key", pub, ref}, pub + " is a public key: sign takes the private key (" + key + ")"},
		{[]string{"attest", "--key", pub, ref}, pub + " is a public key: attest takes the private key (" + key + ")"},
		{[]string{"build", "--sign", "--key", pub, "--push", ref, spec}, pub + " is a public key: build --sign takes the private key (" + key + ")"},
		{[]string{"verify", "--key", garbage, ref}, "not a key in cosign's format"},
		{[]string{"sign", "--key", garbage, ref}, "not a key in cosign's format"},
	} {
		_, _, err := runWith(t, g, append([]string{"--data-dir", filepath.Join(dir, "data")}, tc.args...)...)
		if ExitCode(err) != ExitUsage || err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ingot %s: exit %d, %v\nwant exit 2 saying %q", strings.Join(tc.args, " "), ExitCode(err), err, tc.want)
		}
	}
	if _, err := os.Stat(filepath.Join(spec, "ingot.lock")); err == nil {
		t.Error("build --sign with a public key locked the spec before refusing the key")
	}
	if r := offline.Refused(); len(r) > 0 || counted.n.Load() > 0 {
		t.Errorf("a key mix-up reached for the network: %v, %d loopback requests", r, counted.n.Load())
	}
}
