package vmimage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ingot-build/ingot/pkg/lock"
	"github.com/ingot-build/ingot/pkg/spec"
)

// FirstBootMarker starts the line the first-boot unit prints on the console once the machine has
// its own identity: a boot test waits for it.
const FirstBootMarker = "ingot-firstboot: ok"

// bootstrap runs mmdebstrap into the directory root: the custom variant installs exactly the
// packages named, each pinned to its locked version, with dpkg and their maintainer scripts; apt
// reads them from the mirror and checks them against the signed indexes.
func bootstrap(ctx context.Context, d DiskLayout, l *lock.Lock, m *Mirror, root string) error {
	var include []string
	for _, p := range l.Archs["amd64"].Packages {
		include = append(include, p.Name+"="+p.Version)
	}
	args := []string{
		// Root mode: the chroot gets /proc and /dev bind mounts while maintainer scripts run, and the
		// tree gets real owners for mkfs.ext4 -d to copy.
		"--mode=root", "--variant=custom", "--format=directory", "--architectures=amd64",
		"--include=" + strings.Join(include, ","),
		// The locked Release may be past a Valid-Until by now; it was verified when locked, and apt
		// still checks its signature.
		"--aptopt=Acquire::Check-Valid-Until \"false\"",
		"--aptopt=Acquire::Languages \"none\"",
		"--aptopt=Acquire::CompressionTypes::Order { \"gz\"; }",
		"--quiet",
		l.Repositories[0].Suite, root,
	}
	args = append(args, m.Lines...)
	err := run(ctx, d, "mmdebstrap", args...)
	return err
}

// configure applies the spec's hardening and the first-boot cleanup to the installed tree.
func configure(s *spec.Spec, l *lock.Lock, d DiskLayout, root string) error {
	v := s.VM
	files := map[string]string{
		// mmdebstrap leaves the build's private mirror here; the machine gets the repositories it
		// was locked from.
		"etc/apt/sources.list": sourcesList(l),
		"etc/hostname":         v.Hostname + "\n",
		"etc/hosts":            "127.0.0.1\tlocalhost\n127.0.1.1\t" + v.Hostname + "\n::1\tlocalhost ip6-localhost ip6-loopback\n",
		"etc/fstab":            "# <file system> <mount point> <type> <options> <dump> <pass>\nUUID=" + strings.ToLower(d.RootUUID().String()) + "\t/\text4\terrors=remount-ro\t0\t1\n",
		// Empty, not absent: systemd then treats the first boot as such (ConditionFirstBoot) and writes
		// the machine's own ID.
		"etc/machine-id": "",
		"etc/systemd/system/ingot-firstboot.service": firstBootUnit,
		"usr/lib/ingot/firstboot":                    firstBootScript,
	}
	if h := v.Hardening; h != nil {
		if len(h.SSHD) > 0 {
			// sshd keeps the first value it reads and Debian's sshd_config includes sshd_config.d/*.conf
			// first, so 00- wins over every other drop-in and the main file.
			files["etc/ssh/sshd_config.d/00-ingot.conf"] = "# Written by ingot host build from the spec's vm.hardening.sshd.\n" + keyValues(h.SSHD, " ")
		}
		if len(h.Sysctl) > 0 {
			files["etc/sysctl.d/99-ingot.conf"] = "# Written by ingot host build from the spec's vm.hardening.sysctl.\n" + keyValues(h.Sysctl, " = ")
		}
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		mode := os.FileMode(0o644)
		if name == "usr/lib/ingot/firstboot" {
			mode = 0o755
		}
		if err := writeFile(root, name, files[name], mode); err != nil {
			return err
		}
	}
	if err := symlink(root, "etc/systemd/system/multi-user.target.wants/ingot-firstboot.service", "/etc/systemd/system/ingot-firstboot.service"); err != nil {
		return err
	}
	if h := v.Hardening; h != nil {
		for _, u := range h.Disable {
			if err := disableUnit(root, u); err != nil {
				return err
			}
		}
		for _, u := range h.Mask {
			if err := symlink(root, "etc/systemd/system/"+u, "/dev/null"); err != nil {
				return fmt.Errorf("masking %s: %w", u, err)
			}
		}
	}
	return cleanup(root)
}

func sourcesList(l *lock.Lock) string {
	var b strings.Builder
	b.WriteString("# The repositories ingot locked this image's packages from.\n")
	for _, r := range l.Repositories {
		fmt.Fprintf(&b, "deb %s %s %s\n", r.URL, r.Suite, strings.Join(r.Components, " "))
	}
	return b.String()
}

func keyValues(m map[string]string, sep string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(m)) {
		b.WriteString(k + sep + m[k] + "\n")
	}
	return b.String()
}

func writeFile(root, name, body string, mode os.FileMode) error {
	r, err := os.OpenRoot(root)
	if err != nil {
		return err
	}
	defer r.Close()
	if err := r.MkdirAll(filepath.Dir(filepath.FromSlash(name)), 0o755); err != nil {
		return fmt.Errorf("writing /%s: %w", name, err)
	}
	if err := r.Remove(filepath.FromSlash(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("writing /%s: %w", name, err)
	}
	f, err := r.OpenFile(filepath.FromSlash(name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("writing /%s: %w", name, err)
	}
	if _, err := f.WriteString(body); err != nil {
		_ = f.Close()
		return fmt.Errorf("writing /%s: %w", name, err)
	}
	if err := f.Chmod(mode); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

func symlink(root, name, target string) error {
	r, err := os.OpenRoot(root)
	if err != nil {
		return err
	}
	defer r.Close()
	rel := filepath.FromSlash(name)
	if err := r.MkdirAll(filepath.Dir(rel), 0o755); err != nil {
		return fmt.Errorf("linking /%s: %w", name, err)
	}
	if err := r.Remove(rel); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("linking /%s: %w", name, err)
	}
	if err := r.Symlink(target, rel); err != nil {
		return fmt.Errorf("linking /%s: %w", name, err)
	}
	return nil
}

// disableUnit does what systemctl disable does to the files: it removes the unit's enablement
// symlinks (in the .wants, .requires and .upholds directories under /etc/systemd/system).
func disableUnit(root, unit string) error {
	base := filepath.Join(root, "etc", "systemd", "system")
	return filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && p == base {
			return nil
		}
		if err != nil {
			return err
		}
		parent := filepath.Base(filepath.Dir(p))
		if d.Type()&fs.ModeSymlink != 0 && d.Name() == unit &&
			(strings.HasSuffix(parent, ".wants") || strings.HasSuffix(parent, ".requires") || strings.HasSuffix(parent, ".upholds")) {
			if err := os.Remove(p); err != nil { //nolint:gosec // the build's own tree, which nothing else changes during the walk; Remove drops the link, not its target
				return fmt.Errorf("disabling %s: %w", unit, err)
			}
		}
		return nil
	})
}

// cleanup removes what must never ship in a golden image: SSH host keys (each machine makes its own
// at first boot), logs, caches, temporary files and shell histories.
func cleanup(root string) error {
	globs := []string{
		"etc/ssh/ssh_host_*", "var/lib/dbus/machine-id", "var/cache/apt/*.bin", "var/cache/debconf/*-old",
		"var/lib/dpkg/*-old", "tmp/*", "var/tmp/*", "root/.bash_history", "var/lib/systemd/random-seed",
		"var/lib/apt/lists/*", "etc/*-",
	}
	for _, g := range globs {
		matches, err := filepath.Glob(filepath.Join(root, filepath.FromSlash(g)))
		if err != nil {
			return err
		}
		for _, m := range matches {
			if filepath.Base(m) == "lock" || filepath.Base(m) == "partial" {
				continue
			}
			if err := os.RemoveAll(m); err != nil {
				return fmt.Errorf("cleaning up: %w", err)
			}
		}
	}
	// Logs: the files go, the directories (with their owners and modes) stay for the services.
	logs := filepath.Join(root, "var", "log")
	return filepath.WalkDir(logs, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && p == logs {
			return nil
		}
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return os.Remove(p) //nolint:gosec // the build's own tree, which nothing else changes during the walk
		}
		return nil
	})
}

// The first-boot unit makes the machine its own: SSH host keys generated here, not baked into the
// image, and a line on the console saying so, with the machine ID systemd wrote for this boot.
const firstBootUnit = `[Unit]
Description=ingot first boot: generate SSH host keys, report on the console
Documentation=https://github.com/ingot-build/ingot
ConditionPathExists=!/var/lib/ingot/firstboot.done
After=local-fs.target systemd-remount-fs.service systemd-machine-id-commit.service
Before=ssh.service sshd.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/lib/ingot/firstboot
StandardOutput=journal+console

[Install]
WantedBy=multi-user.target
`

const firstBootScript = `#!/bin/sh
# Written by ingot host build: runs once, at the first boot.
set -e
if command -v ssh-keygen >/dev/null 2>&1; then
	ssh-keygen -A
fi
keys=$(ls /etc/ssh/ssh_host_*_key 2>/dev/null | wc -l)
mkdir -p /var/lib/ingot
: > /var/lib/ingot/firstboot.done
echo "` + FirstBootMarker + ` hostname=$(cat /etc/hostname) machine-id=$(cat /etc/machine-id) ssh-host-keys=$keys"
`
