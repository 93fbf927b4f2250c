package spec

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// VM makes the spec a virtual machine image, built by ingot host build into a bootable raw and qcow2
// disk instead of an OCI image. Its packages are the whole system: ingot adds nothing the spec does not
// name, so a VM spec lists Debian's Essential packages, an init, its kernel and its bootloader.
type VM struct {
	// Kernel is the kernel package, which must also be listed in packages. Default: linux-image-amd64.
	Kernel string `yaml:"kernel,omitempty" json:"kernel,omitempty"`
	// Bootloader boots the disk through UEFI: systemd-boot (from the systemd-boot-efi package, which
	// must be listed in packages). Default: systemd-boot.
	Bootloader string `yaml:"bootloader,omitempty" json:"bootloader,omitempty" jsonschema:"enum=systemd-boot"`
	// DiskSize is the size of the disk: a number of bytes with a K, M or G suffix (powers of 1024),
	// at least 512M. Default: 2G.
	DiskSize string `yaml:"disk-size,omitempty" json:"disk-size,omitempty" jsonschema:"pattern=^[0-9]+[KMG]$"`
	// Hostname of the machine. Default: the spec's name.
	Hostname string `yaml:"hostname,omitempty" json:"hostname,omitempty"`
	// KernelArgs are appended to the kernel command line after root=, ro and console=ttyS0.
	KernelArgs []string `yaml:"kernel-args,omitempty" json:"kernel-args,omitempty"`
	// Hardening is written into the image: an sshd drop-in, a sysctl.d file, and units disabled or
	// masked.
	Hardening *Hardening `yaml:"hardening,omitempty" json:"hardening,omitempty"`
}

// Hardening is the host configuration a VM image ships with.
type Hardening struct {
	// SSHD maps sshd_config keywords to values, written as /etc/ssh/sshd_config.d/00-ingot.conf, which
	// sshd reads before anything else, so these values win (sshd keeps the first value it reads).
	SSHD map[string]string `yaml:"sshd,omitempty" json:"sshd,omitempty"`
	// Sysctl maps kernel parameters to values, written as /etc/sysctl.d/99-ingot.conf, read last.
	Sysctl map[string]string `yaml:"sysctl,omitempty" json:"sysctl,omitempty"`
	// Disable names systemd units whose enablement is removed (systemctl disable).
	Disable []string `yaml:"disable,omitempty" json:"disable,omitempty"`
	// Mask names systemd units that cannot start at all (systemctl mask).
	Mask []string `yaml:"mask,omitempty" json:"mask,omitempty"`
}

// VM defaults.
const (
	DefaultKernel     = "linux-image-amd64"
	BootloaderSDBoot  = "systemd-boot"
	DefaultDiskSize   = "2G"
	minDiskSize       = 512 << 20
	maxDiskSize       = 2 << 40
	sdBootPackage     = "systemd-boot-efi"
	maxHardeningValue = 1024
)

var (
	diskSize = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^([0-9]{1,13})([KMG])$`) })
	// RFC 1123 host name labels, as systemd's hostname validation accepts them.
	hostName = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$`)
	})
	sshdKeyword = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]*$`) })
	sysctlKey   = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9_][a-z0-9_./*-]*$`) })
	// systemd unit names: a name, an optional @instance, and a unit type suffix.
	unitName = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^[A-Za-z0-9:_.\\-]+(@[A-Za-z0-9:_.\\-]*)?\.(service|socket|timer|target|path|mount|automount|swap|slice|scope|device)$`)
	})
)

// BootloaderPackage is the package that provides the bootloader's EFI binary.
func (v *VM) BootloaderPackage() string { return sdBootPackage }

// DiskBytes is the disk size in bytes; the spec was validated, so it parses.
func (v *VM) DiskBytes() int64 {
	n, _ := parseDiskSize(v.DiskSize)
	return n
}

func parseDiskSize(s string) (int64, error) {
	m := diskSize().FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("%q is not a size such as 2G or 1536M", s)
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q: %w", s, err)
	}
	shift := map[string]uint{"K": 10, "M": 20, "G": 30}[m[2]]
	if n > maxDiskSize>>shift {
		return 0, fmt.Errorf("%q is larger than 2T", s)
	}
	return n << shift, nil
}

func (v *VM) setDefaults(name string) {
	if v.Kernel == "" {
		v.Kernel = DefaultKernel
	}
	if v.Bootloader == "" {
		v.Bootloader = BootloaderSDBoot
	}
	if v.DiskSize == "" {
		v.DiskSize = DefaultDiskSize
	}
	if v.Hostname == "" {
		v.Hostname = name
	}
}

// validateVM checks the vm section and what a VM spec may not hold: the container-only fields have
// no meaning on a disk, and a silently ignored field would be a surprise.
func (s *Spec) validateVM(bad func(string, string, ...any)) {
	v := s.VM
	listed := func(pkg string) bool {
		return slices.ContainsFunc(s.Packages, func(p string) bool { n, _, _ := strings.Cut(p, "="); return n == pkg })
	}
	if !packageName().MatchString(v.Kernel) {
		bad("vm.kernel", "%q is not a Debian package name", abbrev(v.Kernel))
	} else if !listed(v.Kernel) {
		bad("vm.kernel", "%q must also be listed in packages", v.Kernel)
	}
	if v.Bootloader != BootloaderSDBoot {
		bad("vm.bootloader", "%q is not supported (want systemd-boot)", abbrev(v.Bootloader))
	} else if !listed(sdBootPackage) {
		bad("vm.bootloader", "systemd-boot needs the package %s listed in packages", sdBootPackage)
	}
	if n, err := parseDiskSize(v.DiskSize); err != nil {
		bad("vm.disk-size", "%s", err)
	} else if n < minDiskSize {
		bad("vm.disk-size", "%q is smaller than 512M", v.DiskSize)
	}
	if len(v.Hostname) > 253 || !hostName().MatchString(v.Hostname) {
		bad("vm.hostname", "%q is not a host name (lowercase letters, digits and '-', in dot-separated labels)", abbrev(v.Hostname))
	}
	for i, a := range v.KernelArgs {
		if a == "" || strings.ContainsAny(a, " \t\n\r\x00\"'") || len(a) > maxHardeningValue {
			bad(fmt.Sprintf("vm.kernel-args[%d]", i), "%q must be one argument without spaces or quotes", abbrev(a))
		}
	}
	if h := v.Hardening; h != nil {
		for k, val := range h.SSHD {
			if !sshdKeyword().MatchString(k) {
				bad("vm.hardening.sshd", "%q is not an sshd_config keyword", abbrev(k))
			}
			if !oneLine(val) {
				bad("vm.hardening.sshd."+k, "the value must be one non-empty line of at most %d bytes", maxHardeningValue)
			}
		}
		for k, val := range h.Sysctl {
			if !sysctlKey().MatchString(k) || len(k) > maxHardeningValue {
				bad("vm.hardening.sysctl", "%q is not a kernel parameter name", abbrev(k))
			}
			if !oneLine(val) {
				bad("vm.hardening.sysctl."+k, "the value must be one non-empty line of at most %d bytes", maxHardeningValue)
			}
		}
		for _, l := range []struct {
			field string
			units []string
		}{{"vm.hardening.disable", h.Disable}, {"vm.hardening.mask", h.Mask}} {
			for i, u := range l.units {
				if len(u) > maxComponent || !unitName().MatchString(u) {
					bad(fmt.Sprintf("%s[%d]", l.field, i), "%q is not a systemd unit name (name.service, name.socket, ...)", abbrev(u))
				}
			}
		}
	}
	if slices.ContainsFunc(s.Archs, func(a string) bool { return a != "amd64" }) {
		bad("archs", "a VM image is built for amd64 only")
	}
	for field, set := range map[string]bool{
		"base": s.Base != "", "files": len(s.Files) > 0, "paths": len(s.Paths) > 0, "accounts": s.Accounts != nil,
		"env": len(s.Env) > 0, "entrypoint": len(s.Entrypoint) > 0, "cmd": len(s.Cmd) > 0, "workdir": s.WorkDir != "",
		"stop-signal": s.StopSignal != "", "labels": len(s.Labels) > 0, "annotations": len(s.Annotations) > 0,
		"layers": s.Layers > 1,
	} {
		if set {
			bad(field, "applies to container images only, not to a spec with a vm section")
		}
	}
}

func oneLine(s string) bool {
	return strings.TrimSpace(s) != "" && len(s) <= maxHardeningValue && !strings.ContainsAny(s, "\n\r\x00")
}
