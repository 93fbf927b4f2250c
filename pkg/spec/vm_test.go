package spec

import (
	"errors"
	"strings"
	"testing"
)

const minimalVM = `
name: vm1
repositories:
  - url: http://127.0.0.1:1/debian
    suite: bookworm
    keyring: /usr/share/keyrings/debian-archive-keyring.gpg
packages: [base-files, linux-image-amd64, systemd-boot-efi]
vm: {}
`

func TestParseVMDefaults(t *testing.T) {
	s, err := Parse([]byte(minimalVM))
	if err != nil {
		t.Fatal(err)
	}
	v := s.VM
	if v.Kernel != "linux-image-amd64" || v.Bootloader != "systemd-boot" || v.DiskSize != "2G" || v.Hostname != "vm1" {
		t.Errorf("defaults = %+v", v)
	}
	if v.DiskBytes() != 2<<30 {
		t.Errorf("disk bytes = %d", v.DiskBytes())
	}
	if s.Accounts != nil {
		t.Errorf("a VM spec got container accounts %+v", s.Accounts)
	}
	// The canonical form reads back to the same spec, so lock inputs and digests are stable.
	again, err := Parse(s.Canonical())
	if err != nil {
		t.Fatal(err)
	}
	if again.Digest() != s.Digest() {
		t.Errorf("canonical VM spec does not read back the same")
	}
}

func TestParseVMErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"unknown vm field", strings.Replace(minimalVM, "vm: {}", "vm: {kernal: x}", 1), "field kernal not found"},
		{"unknown hardening field", strings.Replace(minimalVM, "vm: {}", "vm: {hardening: {ssh: {}}}", 1), "field ssh not found"},
		{"kernel not listed", strings.Replace(minimalVM, "vm: {}", "vm: {kernel: linux-image-cloud-amd64}", 1), `vm.kernel: "linux-image-cloud-amd64" must also be listed in packages`},
		{"kernel name", strings.Replace(minimalVM, "vm: {}", "vm: {kernel: Linux}", 1), `vm.kernel: "Linux" is not a Debian package name`},
		{"no systemd-boot-efi", strings.Replace(minimalVM, ", systemd-boot-efi]", "]", 1), "vm.bootloader: systemd-boot needs the package systemd-boot-efi"},
		{"grub", strings.Replace(minimalVM, "vm: {}", "vm: {bootloader: grub}", 1), `vm.bootloader: "grub" is not supported`},
		{"disk size unit", strings.Replace(minimalVM, "vm: {}", "vm: {disk-size: 2GB}", 1), `vm.disk-size: "2GB" is not a size`},
		{"disk too small", strings.Replace(minimalVM, "vm: {}", "vm: {disk-size: 100M}", 1), `vm.disk-size: "100M" is smaller than 512M`},
		{"disk too large", strings.Replace(minimalVM, "vm: {}", "vm: {disk-size: 9999999G}", 1), "larger than 2T"},
		{"hostname", strings.Replace(minimalVM, "vm: {}", "vm: {hostname: My_Host}", 1), `vm.hostname: "My_Host" is not a host name`},
		{"kernel arg with space", strings.Replace(minimalVM, "vm: {}", "vm: {kernel-args: [\"quiet splash\"]}", 1), "vm.kernel-args[0]"},
		{"sshd keyword", strings.Replace(minimalVM, "vm: {}", "vm: {hardening: {sshd: {\"Permit Root\": \"no\"}}}", 1), `vm.hardening.sshd: "Permit Root" is not an sshd_config keyword`},
		{"sshd value newline", strings.Replace(minimalVM, "vm: {}", "vm: {hardening: {sshd: {PermitRootLogin: \"no\\nPort 23\"}}}", 1), "vm.hardening.sshd.PermitRootLogin: the value must be one non-empty line"},
		{"sshd empty value", strings.Replace(minimalVM, "vm: {}", "vm: {hardening: {sshd: {PermitRootLogin: \"\"}}}", 1), "vm.hardening.sshd.PermitRootLogin"},
		{"sysctl key", strings.Replace(minimalVM, "vm: {}", "vm: {hardening: {sysctl: {\"kernel randomize\": \"2\"}}}", 1), `vm.hardening.sysctl: "kernel randomize" is not a kernel parameter name`},
		{"sysctl value newline", strings.Replace(minimalVM, "vm: {}", "vm: {hardening: {sysctl: {kernel.kptr_restrict: \"2\\nx=1\"}}}", 1), "vm.hardening.sysctl.kernel.kptr_restrict"},
		{"unit without type", strings.Replace(minimalVM, "vm: {}", "vm: {hardening: {mask: [avahi-daemon]}}", 1), `vm.hardening.mask[0]: "avahi-daemon" is not a systemd unit name`},
		{"unit with slash", strings.Replace(minimalVM, "vm: {}", "vm: {hardening: {disable: [../../etc/passwd.service]}}", 1), "vm.hardening.disable[0]"},
		{"arm64", minimalVM + "archs: [arm64]\n", "archs: a VM image is built for amd64 only"},
		{"container field", minimalVM + "entrypoint: [/bin/sh]\n", "entrypoint: applies to container images only"},
		{"accounts", minimalVM + "accounts: {run-as: root}\n", "accounts: applies to container images only"},
		{"base", minimalVM + "base: example.com/img@sha256:" + strings.Repeat("0", 64) + "\n", "base: applies to container images only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestParseVMExample(t *testing.T) {
	s, err := Load("../../examples/vm/ingot.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if s.VM == nil || s.VM.Hardening == nil || s.VM.Hardening.SSHD["PermitRootLogin"] != "no" {
		t.Errorf("examples/vm: %+v", s.VM)
	}
}
