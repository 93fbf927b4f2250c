package regtest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// CosignTimeout bounds one cosign command. Offline with a key, a command takes about a second; the
// bound only stops a hung one from holding the test binary until go test's own timeout.
const CosignTimeout = 2 * time.Minute

// Cosign returns the path of the real cosign of the given major version: v2 is the cosign on PATH
// (as .ci/run installs it), v3 is $INGOT_COSIGN3. When it is missing, or not that version, the test
// is skipped, or fails when CI is set.
func Cosign(t testing.TB, major int) string {
	t.Helper()
	var bin string
	switch major {
	case 2:
		p, err := exec.LookPath("cosign")
		if err != nil {
			missing(t, "cosign v2 is not on PATH: %v", err)
		}
		bin = p
	case 3:
		bin = os.Getenv("INGOT_COSIGN3")
		if bin == "" {
			missing(t, "INGOT_COSIGN3 is not set to a cosign v3 binary")
		}
		if _, err := os.Stat(bin); err != nil { //nolint:gosec // G703: the test environment names the binary to run
			missing(t, "INGOT_COSIGN3: %v", err)
		}
	default:
		t.Fatalf("regtest.Cosign: no cosign v%d; want 2 or 3", major)
	}
	v, err := cosignVersion(t, bin)
	if err != nil {
		missing(t, "%s version: %v", bin, err)
	}
	if !strings.HasPrefix(v, fmt.Sprintf("v%d.", major)) {
		missing(t, "%s is cosign %s, want v%d", bin, v, major)
	}
	return bin
}

// cosignVersion reads the GitVersion line of `cosign version`.
func cosignVersion(t testing.TB, bin string) (string, error) {
	stdout, stderr, err := RunCosign(t, bin, nil, "version")
	if err != nil {
		return "", fmt.Errorf("%w: %s", err, stderr)
	}
	sc := bufio.NewScanner(strings.NewReader(stdout + "\n" + stderr))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "GitVersion:"); ok {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("no GitVersion in its output: %s", stdout)
}

// RunCosign runs bin with args and returns its stdout and stderr. cosign runs in an isolated
// environment: HOME, DOCKER_CONFIG and TUF_ROOT in a fresh temporary directory (so it never reads or
// writes the user's ~/.sigstore or registry credentials), COSIGN_EXPERIMENTAL unset, and its HTTP(S)
// proxy a loopback proxy that refuses everything, so an attempt to reach a TUF mirror, Rekor or Fulcio
// fails at once instead of waiting on the network; refused attempts are logged with t.Logf. env adds
// or overrides variables (for example COSIGN_PASSWORD=...). The command is killed after CosignTimeout.
func RunCosign(t testing.TB, bin string, env []string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	home := t.TempDir()
	off := OfflineTransport(nil)
	full := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"TMPDIR=" + home,
		"DOCKER_CONFIG=" + filepath.Join(home, ".docker"),
		"TUF_ROOT=" + filepath.Join(home, ".sigstore", "root"),
		"XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"XDG_CACHE_HOME=" + filepath.Join(home, ".cache"),
	}
	full = append(full, off.ProxyEnv(t)...)
	full = append(full, env...) // os/exec keeps the last value of a duplicated key

	ctx, cancel := context.WithTimeout(context.Background(), CosignTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...) //nolint:gosec // G204: running the cosign the caller chose is the point
	cmd.Env = full
	cmd.Dir = home
	cmd.WaitDelay = 5 * time.Second
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("cosign %s: killed after %s: %w", strings.Join(args, " "), CosignTimeout, ctx.Err())
	}
	if r := off.Refused(); len(r) > 0 {
		t.Logf("cosign %s tried to leave loopback (refused): %s", firstArg(args), strings.Join(r, "; "))
	}
	return out.String(), errb.String(), err
}

func firstArg(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return args[0]
}

// TrustedRoot writes an empty sigstore trusted root (no Rekor, Fulcio, CT log or TSA) with
// `cosign trusted-root create` into a temporary directory and returns its path. cosign v3 needs
// --trusted-root FILE to verify a bundle offline; with a key, an empty root is enough.
func TrustedRoot(t testing.TB, bin string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "trusted_root.json")
	if _, stderr, err := RunCosign(t, bin, nil, "trusted-root", "create", "--out", path); err != nil {
		t.Fatalf("cosign trusted-root create: %v: %s", err, stderr)
	}
	return path
}

// SigningConfig writes an empty sigstore signing config (no Fulcio, Rekor or TSA) with
// `cosign signing-config create` and returns its path. cosign v3 signs with a key and no transparency
// log only when given such a config (--signing-config FILE); its --tlog-upload=false alone is refused.
func SigningConfig(t testing.TB, bin string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "signing_config.json")
	if _, stderr, err := RunCosign(t, bin, nil, "signing-config", "create", "--out", path); err != nil {
		t.Fatalf("cosign signing-config create: %v: %s", err, stderr)
	}
	return path
}

// SignFlags are the flags with which cosign `sign` and `attest` sign an image with --key and no
// transparency log, pushing to a plain-HTTP registry, without prompting:
//
//	v2: -y --allow-http-registry --tlog-upload=false
//	    (writes the legacy sha256-<hex>.sig / .att tags)
//	v3: -y --allow-http-registry --signing-config EMPTY
//	    (writes a sigstore bundle v0.3 as an OCI referrer, or under the sha256-<hex> fallback tag)
//
// cosign v3 can still write the legacy format with --use-signing-config=false --tlog-upload=false
// --new-bundle-format=false. ggcr already speaks plain HTTP to loopback; --allow-http-registry
// keeps the flags right for other hosts.
func SignFlags(t testing.TB, bin string, major int) []string {
	t.Helper()
	flags := []string{"-y", "--allow-http-registry"}
	if major >= 3 {
		return append(flags, "--signing-config", SigningConfig(t, bin))
	}
	return append(flags, "--tlog-upload=false")
}

// VerifyFlags are the flags with which cosign `verify` and `verify-attestation` check an image with
// --key and no transparency log, TUF root or network beyond the registry:
//
//	v2: --insecure-ignore-tlog --allow-http-registry
//	    (reads the legacy tags; it still tries the TUF mirror and only warns when it cannot reach it)
//	v3: --insecure-ignore-tlog --allow-http-registry --trusted-root EMPTY
//	    (reads bundles, and falls back to the legacy tags when an image has none)
func VerifyFlags(t testing.TB, bin string, major int) []string {
	t.Helper()
	flags := []string{"--insecure-ignore-tlog", "--allow-http-registry"}
	if major >= 3 {
		return append(flags, "--trusted-root", TrustedRoot(t, bin))
	}
	return flags
}
