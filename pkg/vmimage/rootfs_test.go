package vmimage

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ingot-build/ingot/pkg/lock"
	"github.com/ingot-build/ingot/pkg/spec"
)

// configure on a tree shaped like mmdebstrap's output: the hardening files, the masks and disables,
// the first-boot unit enabled, and the identities and leftovers gone.
func TestConfigure(t *testing.T) {
	root := t.TempDir()
	for name, body := range map[string]string{
		"etc/machine-id":                          "0123456789abcdef0123456789abcdef\n",
		"etc/ssh/ssh_host_ed25519_key":            "PRIVATE",
		"etc/ssh/ssh_host_ed25519_key.pub":        "PUBLIC",
		"etc/ssh/sshd_config":                     "Include /etc/ssh/sshd_config.d/*.conf\n",
		"var/log/dpkg.log":                        "installed\n",
		"var/log/apt/history.log":                 "x\n",
		"tmp/build-leftover":                      "x",
		"root/.bash_history":                      "secret command\n",
		"etc/passwd-":                             "old\n",
		"lib/systemd/system/e2scrub_reap.service": "[Unit]\n",
	} {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	wants := filepath.Join(root, "etc/systemd/system/default.target.wants")
	if err := os.MkdirAll(wants, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/lib/systemd/system/e2scrub_reap.service", filepath.Join(wants, "e2scrub_reap.service")); err != nil {
		t.Fatal(err)
	}
	s, err := spec.Load(filepath.Join("..", "..", "examples", "vm", "ingot.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	d := DiskLayout{Size: 2 << 30, Seed: "debian-vm\x00bookworm", Epoch: time.Unix(1700000000, 0)}
	l := &lock.Lock{Repositories: []lock.Repository{{URL: "http://127.0.0.1:1/debian", Suite: "bookworm", Components: []string{"main"}}}}
	if err := configure(s, l, d, root); err != nil {
		t.Fatal(err)
	}
	read := func(name string) string {
		data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(name)))
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
		return string(data)
	}
	if got := read("etc/ssh/sshd_config.d/00-ingot.conf"); !strings.Contains(got, "\nMaxAuthTries 4\n") || !strings.Contains(got, "\nPermitRootLogin no\n") {
		t.Errorf("sshd drop-in:\n%s", got)
	}
	if got := read("etc/sysctl.d/99-ingot.conf"); !strings.Contains(got, "\nkernel.yama.ptrace_scope = 1\n") {
		t.Errorf("sysctl.d:\n%s", got)
	}
	if got := read("etc/fstab"); !strings.Contains(got, "UUID="+strings.ToLower(d.RootUUID().String())+"\t/\text4") {
		t.Errorf("fstab:\n%s", got)
	}
	if got := read("etc/apt/sources.list"); !strings.Contains(got, "\ndeb http://127.0.0.1:1/debian bookworm main\n") {
		t.Errorf("sources.list:\n%s", got)
	}
	if got := read("etc/hostname"); got != "debian-vm\n" {
		t.Errorf("hostname %q", got)
	}
	if got := read("etc/machine-id"); got != "" {
		t.Errorf("machine-id %q, want empty", got)
	}
	if target, err := os.Readlink(filepath.Join(root, "etc/systemd/system/debug-shell.service")); err != nil || target != "/dev/null" {
		t.Errorf("debug-shell.service not masked: %q, %v", target, err)
	}
	if _, err := os.Lstat(filepath.Join(wants, "e2scrub_reap.service")); !os.IsNotExist(err) {
		t.Errorf("e2scrub_reap.service still enabled: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "lib/systemd/system/e2scrub_reap.service")); err != nil {
		t.Errorf("disabling removed the unit itself: %v", err)
	}
	if target, err := os.Readlink(filepath.Join(root, "etc/systemd/system/multi-user.target.wants/ingot-firstboot.service")); err != nil || target != "/etc/systemd/system/ingot-firstboot.service" {
		t.Errorf("first-boot unit not enabled: %q, %v", target, err)
	}
	if fi, err := os.Stat(filepath.Join(root, "usr/lib/ingot/firstboot")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("first-boot script: %v, %v", fi, err)
	}
	for _, gone := range []string{"etc/ssh/ssh_host_ed25519_key", "etc/ssh/ssh_host_ed25519_key.pub", "var/log/dpkg.log", "var/log/apt/history.log", "tmp/build-leftover", "root/.bash_history", "etc/passwd-"} {
		if _, err := os.Lstat(filepath.Join(root, gone)); !os.IsNotExist(err) {
			t.Errorf("/%s is still in the image (%v)", gone, err)
		}
	}
	for _, kept := range []string{"var/log/apt", "tmp", "etc/ssh/sshd_config"} {
		if _, err := os.Lstat(filepath.Join(root, kept)); err != nil {
			t.Errorf("/%s was removed: %v", kept, err)
		}
	}
}
