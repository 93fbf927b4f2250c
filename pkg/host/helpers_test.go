package host

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ingot-build/ingot/pkg/evidence"
)

// file is one entry of a fixture tree: a regular file (data), a directory or a symbolic link.
type file struct {
	data     string
	mode     int64
	uid, gid int
	link     string
	dir      bool
}

func reg(data string, mode int64) file { return file{data: data, mode: mode} }
func dir(mode int64) file              { return file{dir: true, mode: mode} }
func symlink(target string) file       { return file{link: target, mode: 0o777} }

// tree is a fixture root file system by relative path.
type tree map[string]file

func (tr tree) clone() tree { return maps.Clone(tr) }

// with returns a copy with changes; a zero file deletes the path.
func (tr tree) with(changes tree) tree {
	out := tr.clone()
	for p, f := range changes {
		if f == (file{}) {
			delete(out, p)
			continue
		}
		out[p] = f
	}
	return out
}

// tarball writes the tree as a tarball (owners as given: tar headers carry them, so the fixtures do
// not depend on who runs the test) and returns its path.
func (tr tree) tarball(t testing.TB) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "root.tar")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	for _, p := range slices.Sorted(maps.Keys(tr)) {
		e := tr[p]
		h := &tar.Header{Name: p, Mode: e.mode, Uid: e.uid, Gid: e.gid, ModTime: time.Unix(1700000000, 0)}
		switch {
		case e.dir:
			h.Typeflag, h.Name = tar.TypeDir, p+"/"
		case e.link != "":
			h.Typeflag, h.Linkname = tar.TypeSymlink, e.link
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return name
}

// directory writes the tree as a directory. Owners are set only when the test runs as root.
func (tr tree) directory(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, p := range slices.Sorted(maps.Keys(tr)) {
		e := tr[p]
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch {
		case e.dir:
			err = os.MkdirAll(full, 0o755)
		case e.link != "":
			err = os.Symlink(e.link, full)
		default:
			err = os.WriteFile(full, []byte(e.data), 0o600)
		}
		if err != nil {
			t.Fatal(err)
		}
		if e.link == "" {
			if err := os.Chmod(full, os.FileMode(e.mode&0o777)|modeBits(e.mode)); err != nil {
				t.Fatal(err)
			}
			if os.Geteuid() == 0 {
				if err := os.Lchown(full, e.uid, e.gid); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	return root
}

func modeBits(m int64) os.FileMode {
	var out os.FileMode
	if m&0o4000 != 0 {
		out |= os.ModeSetuid
	}
	if m&0o2000 != 0 {
		out |= os.ModeSetgid
	}
	if m&0o1000 != 0 {
		out |= os.ModeSticky
	}
	return out
}

// audit opens a target and audits it with opt.
func audit(t *testing.T, target string, opt Options) []evidence.Finding {
	t.Helper()
	tr, err := Open(context.Background(), target, OpenOptions{})
	if err != nil {
		t.Fatalf("Open(%s): %v", target, err)
	}
	defer func() { _ = tr.Close() }()
	fs, err := Audit(context.Background(), tr, opt)
	if err != nil {
		t.Fatalf("Audit: %v", err)
	}
	return fs
}

func byID(fs []evidence.Finding) map[string]evidence.Finding {
	out := map[string]evidence.Finding{}
	for _, f := range fs {
		out[f.ID] = f
	}
	return out
}

// Fixture content.
const (
	goodSSHD = `# Debian's layout: drop-ins first, so that their values win
Include /etc/ssh/sshd_config.d/*.conf
PermitRootLogin no
PasswordAuthentication no
PermitEmptyPasswords no
X11Forwarding no
MaxAuthTries 4
Ciphers aes256-gcm@openssh.com,aes128-ctr
MACs hmac-sha2-256-etm@openssh.com
`
	goodSysctl = `net.ipv4.ip_forward = 0
net.ipv6.conf.all.forwarding = 0
net.ipv4.conf.all.accept_redirects = 0
net.ipv4.conf.default.accept_redirects = 0
net.ipv4.conf.all.secure_redirects = 0
net.ipv4.conf.default.secure_redirects = 0
net.ipv6.conf.all.accept_redirects = 0
net.ipv6.conf.default.accept_redirects = 0
net.ipv4.conf.all.send_redirects = 0
net.ipv4.conf.default.send_redirects = 0
net.ipv4.conf.all.accept_source_route = 0
net.ipv4.conf.default.accept_source_route = 0
net.ipv6.conf.all.accept_source_route = 0
net.ipv6.conf.default.accept_source_route = 0
net.ipv4.conf.all.rp_filter = 1
net.ipv4.conf.default.rp_filter = 1
kernel.randomize_va_space = 2
kernel.kptr_restrict = 1
kernel.dmesg_restrict = 1
kernel.yama.ptrace_scope = 1
`
	goodFstab = `UUID=0f3e root / ext4 errors=remount-ro 0 1
tmpfs /tmp tmpfs defaults,rw,nosuid,nodev,noexec,relatime 0 0
tmpfs /dev/shm tmpfs defaults,rw,nosuid,nodev,noexec,relatime 0 0
tmpfs /var/tmp tmpfs defaults,rw,nosuid,nodev,noexec,relatime 0 0
`
	autoUpgrades = "APT::Periodic::Update-Package-Lists \"1\";\nAPT::Periodic::Unattended-Upgrade \"1\";\n"
)

// pkgEntry is one paragraph of dpkg's status file.
func pkgEntry(name, version string) string {
	return "Package: " + name + "\nStatus: install ok installed\nPriority: optional\nArchitecture: amd64\nVersion: " + version + "\nDescription: " + name + "\n"
}

func status(entries ...string) string { return strings.Join(entries, "\n") }

var goodPackages = []string{
	pkgEntry("dpkg", "1.21.22"), pkgEntry("openssh-server", "1:9.2p1-2+deb12u3"), pkgEntry("auditd", "1:3.0.9-1"),
	pkgEntry("chrony", "4.3-2+deb12u1"), pkgEntry("apparmor", "3.0.8-3"), pkgEntry("unattended-upgrades", "2.9.1+nmu3"),
	pkgEntry("node-agent", "1.4.2-1"),
}

// goodTree passes every rule of the minimal profile, with goodPolicy.
func goodTree() tree {
	root := file{mode: 0o644}
	shadow := file{mode: 0o640, gid: 42}
	return tree{
		"etc":                                dir(0o755),
		"etc/ssh":                            dir(0o755),
		"etc/ssh/sshd_config":                reg(goodSSHD, 0o644),
		"etc/ssh/sshd_config.d":              dir(0o755),
		"etc/sysctl.d":                       dir(0o755),
		"etc/sysctl.d/60-ingot.conf":         reg(goodSysctl, 0o644),
		"etc/passwd":                         withData(root, "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n"),
		"etc/passwd-":                        withData(root, "root:x:0:0:root:/root:/bin/bash\n"),
		"etc/group":                          withData(root, "root:x:0:\nshadow:x:42:\nalice:x:1000:\n"),
		"etc/shadow":                         withData(shadow, "root:*:19000:0:99999:7:::\nalice:!:19000:0:99999:7:::\n"),
		"etc/gshadow":                        withData(shadow, "root:*::\nshadow:*::\n"),
		"etc/crontab":                        reg("# m h dom mon dow user command\n", 0o600),
		"etc/cron.d":                         dir(0o700),
		"etc/cron.daily":                     dir(0o700),
		"etc/fstab":                          reg(goodFstab, 0o644),
		"etc/machine-id":                     reg("", 0o444),
		"etc/apt/apt.conf.d/20auto-upgrades": reg(autoUpgrades, 0o644),
		"etc/default/grub":                   reg("GRUB_CMDLINE_LINUX=\"apparmor=1 security=apparmor\"\n", 0o644),
		"etc/systemd/system/multi-user.target.wants/auditd.service": symlink("/lib/systemd/system/auditd.service"),
		"etc/systemd/system/multi-user.target.wants/ssh.service":    symlink("/lib/systemd/system/ssh.service"),
		"var/lib/dpkg/status":    reg(status(goodPackages...), 0o644),
		"var/log":                dir(0o755),
		"var/log/syslog":         reg("", 0o640),
		"var/lib/apt/lists":      dir(0o755),
		"var/lib/apt/lists/lock": reg("", 0o640),
		"tmp":                    dir(0o1777),
		"var/tmp":                dir(0o1777),
		"home/alice":             dir(0o750),
		"root":                   dir(0o700),
	}
}

func withData(f file, data string) file { f.data = data; return f }

func goodPolicy() *Policy {
	return &Policy{
		Agents:    []Agent{{Name: "node-agent", Versions: ">=1.4, <2", Why: "fleet monitoring"}},
		Forbidden: []Forbidden{{Name: "netcat-traditional", Why: "a backdoor's best friend"}},
	}
}

func sha256sum(t *testing.T, r io.Reader) string {
	t.Helper()
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("sha256:%x", h.Sum(nil))
}
