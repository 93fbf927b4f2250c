package host

import (
	"context"
	"errors"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/fault"
	"github.com/ingot-build/ingot/pkg/harden"
	"github.com/ingot-build/ingot/pkg/secrets"
)

var gone = file{}

// scanSecrets runs the real secrets stage, as the CLI does.
func scanSecrets(ctx context.Context, img v1.Image) ([]evidence.Finding, error) {
	return secrets.Scan(ctx, img, secrets.Options{})
}

// ruleCases make exactly one rule fail by changing the good tree (or the policy). found is a
// substring of what the failing finding reports.
var ruleCases = []struct {
	rule   string
	change tree
	policy *Policy
	found  string
}{
	// A drop-in read at the Include, before the main file's "no": sshd takes the first value.
	{RuleSSHRootLogin, tree{"etc/ssh/sshd_config.d/10-cloud.conf": reg("PermitRootLogin yes\n", 0o644)}, nil, "PermitRootLogin yes"},
	{RuleSSHPassword, tree{"etc/ssh/sshd_config": reg(strings.Replace(goodSSHD, "PasswordAuthentication no\n", "", 1), 0o644)}, nil, "OpenSSH's default is yes"},
	{RuleSSHEmptyPassword, tree{"etc/ssh/sshd_config.d/20-x.conf": reg("permitemptypasswords=yes\n", 0o644)}, nil, "PermitEmptyPasswords yes"},
	{RuleSSHX11, tree{"etc/ssh/sshd_config.d/20-x.conf": reg("X11Forwarding yes\n", 0o644)}, nil, "X11Forwarding yes"},
	{RuleSSHCrypto, tree{"etc/ssh/sshd_config.d/20-x.conf": reg("Ciphers aes256-cbc,aes128-ctr\nMACs +hmac-md5\n", 0o644)}, nil, "aes256-cbc, hmac-md5"},
	{RuleSSHMaxAuthTries, tree{"etc/ssh/sshd_config.d/20-x.conf": reg("MaxAuthTries 6\n", 0o644)}, nil, "MaxAuthTries 6"},
	{RuleSysctlForward, tree{"etc/sysctl.d/99-router.conf": reg("net.ipv4.ip_forward=1\n", 0o644)}, nil, "net.ipv4.ip_forward = 1"},
	// A vendor file sorted after /etc's applies later and wins.
	{RuleSysctlRedirects, tree{"usr/lib/sysctl.d/70-router.conf": reg("net.ipv6.conf.all.accept_redirects = 1\n", 0o644)}, nil, "net.ipv6.conf.all.accept_redirects = 1"},
	{RuleSysctlSendRedirect, tree{"run/sysctl.d/80-x.conf": reg("net.ipv4.conf.default.send_redirects = 1\n", 0o644)}, nil, "net.ipv4.conf.default.send_redirects = 1"},
	// Unset, the kernel's default for new IPv4 interfaces accepts source routes.
	{RuleSysctlSourceRoute, tree{"etc/sysctl.d/60-ingot.conf": reg(strings.Replace(goodSysctl, "net.ipv4.conf.default.accept_source_route = 0\n", "", 1), 0o644)}, nil, "net.ipv4.conf.default.accept_source_route unset"},
	{RuleSysctlRPFilter, tree{"etc/sysctl.d/61-loose.conf": reg("net/ipv4/conf/all/rp_filter = 2\n", 0o644)}, nil, "net.ipv4.conf.all.rp_filter = 2"},
	// /etc/sysctl.conf is applied last.
	{RuleSysctlASLR, tree{"etc/sysctl.conf": reg("kernel.randomize_va_space = 0\n", 0o644)}, nil, "kernel.randomize_va_space = 0"},
	{RuleSysctlKptr, tree{"etc/sysctl.d/90-x.conf": reg("kernel.kptr_restrict = 0\n", 0o644)}, nil, "kernel.kptr_restrict = 0"},
	{RuleSysctlDmesg, tree{"etc/sysctl.d/90-x.conf": reg("kernel.dmesg_restrict = 0\n", 0o644)}, nil, "kernel.dmesg_restrict = 0"},
	{RuleSysctlPtrace, tree{"etc/sysctl.d/90-x.conf": reg("kernel.yama.ptrace_scope = 0\n", 0o644)}, nil, "kernel.yama.ptrace_scope = 0"},
	{RuleLegacyServers, tree{"var/lib/dpkg/status": reg(status(append(goodPackages[:len(goodPackages):len(goodPackages)], pkgEntry("tftpd-hpa", "5.2+20150808-1.4"))...), 0o644)}, nil, "tftpd-hpa 5.2"},
	{RuleLegacyClients, tree{"var/lib/dpkg/status": reg(status(append(goodPackages[:len(goodPackages):len(goodPackages)], pkgEntry("telnet", "0.17+2.4-2"))...), 0o644)}, nil, "telnet 0.17"},
	{RuleUnneededServices, tree{"var/lib/dpkg/status": reg(status(append(goodPackages[:len(goodPackages):len(goodPackages)], pkgEntry("avahi-daemon", "0.8-10"))...), 0o644)}, nil, "avahi-daemon 0.8-10"},
	{RuleEnabledUnits, tree{"etc/systemd/system/multi-user.target.wants/cups.service": symlink("/lib/systemd/system/cups.service")}, nil, "cups.service"},
	{RuleAccountFilePerms, tree{"etc/shadow": file{data: "root:*:19000::::::\n", mode: 0o644, gid: 42}}, nil, "/etc/shadow mode 0644"},
	{RuleCronPerms, tree{"etc/cron.d": dir(0o755)}, nil, "/etc/cron.d mode 0755"},
	{RuleUID0, tree{"etc/passwd": file{data: "root:x:0:0:root:/root:/bin/bash\ntoor:x:0:0::/root:/bin/bash\n", mode: 0o644}}, nil, "toor"},
	{RuleEmptyPassword, tree{"etc/shadow": file{data: "root:*:19000:0:99999:7:::\nalice::19000:0:99999:7:::\n", mode: 0o640, gid: 42}}, nil, "alice in /etc/shadow"},
	{RuleMountTmp, tree{"etc/fstab": reg(strings.Replace(goodFstab, "/tmp tmpfs defaults,rw,nosuid,nodev,noexec", "/tmp tmpfs defaults,rw,nosuid,nodev", 1), 0o644)}, nil, "/tmp lacks: noexec"},
	{RuleMountDevShm, tree{"etc/fstab": reg(strings.Replace(goodFstab, "tmpfs /dev/shm tmpfs defaults,rw,nosuid,nodev,noexec,relatime 0 0\n", "", 1), 0o644)}, nil, "/dev/shm has no mount of its own"},
	{RuleMountVarTmp, tree{"etc/fstab": reg(strings.Replace(goodFstab, "/var/tmp tmpfs defaults,rw,nosuid,", "/var/tmp tmpfs defaults,rw,", 1), 0o644)}, nil, "/var/tmp lacks: nosuid"},
	{RuleAuditd, tree{"etc/systemd/system/multi-user.target.wants/auditd.service": gone}, nil, "auditd.service is not enabled"},
	{RuleTimeSync, tree{"var/lib/dpkg/status": reg(status(without(goodPackages, "chrony")...), 0o644)}, nil, "no chrony"},
	{RuleAppArmor, tree{"etc/default/grub": reg("GRUB_CMDLINE_LINUX=\"quiet apparmor=0\"\n", 0o644)}, nil, "apparmor=0 in /etc/default/grub"},
	{RuleAutoUpdates, tree{"etc/apt/apt.conf.d/50-off": reg("APT::Periodic::Unattended-Upgrade \"0\";\n", 0o644)}, nil, "APT::Periodic::Unattended-Upgrade"},
	{RuleHostKeys, tree{"etc/ssh/ssh_host_ed25519_key.pub": reg("ssh-ed25519 AAAAC3Nza host\n", 0o644)}, nil, "/etc/ssh/ssh_host_ed25519_key.pub"},
	{RuleAuthorizedKeys, tree{"home/alice/.ssh/authorized_keys": reg("ssh-ed25519 AAAAC3Nza alice\n", 0o600)}, nil, "/home/alice/.ssh/authorized_keys"},
	{RuleHistories, tree{"root/.bash_history": reg("apt-get install -y curl\n", 0o600)}, nil, "/root/.bash_history"},
	{RuleMachineID, tree{"etc/machine-id": reg("0123456789abcdef0123456789abcdef\n", 0o444)}, nil, "/etc/machine-id"},
	{RuleCloudInit, tree{"var/lib/cloud/instances/i-0abc/user-data.txt": reg("#cloud-config\n", 0o600)}, nil, "/var/lib/cloud/instances/i-0abc/user-data.txt"},
	{RuleDHCPLeases, tree{"var/lib/dhcp/dhclient.eth0.leases": reg("lease {}\n", 0o644)}, nil, "/var/lib/dhcp/dhclient.eth0.leases"},
	{RuleTmpContents, tree{"var/tmp/build.sh": reg("make\n", 0o755)}, nil, "/var/tmp/build.sh"},
	{RuleAptCaches, tree{"var/lib/apt/lists/deb.example_dists_bookworm_InRelease": reg("Origin: Debian\n", 0o644)}, nil, "InRelease"},
	{RuleLogs, tree{"var/log/dpkg.log": reg("2026-12-06 status installed\n", 0o644)}, nil, "/var/log/dpkg.log"},
	{RuleSecrets, tree{"opt/app/deploy.env": reg("GITHUB_TOKEN=ghp_Q7vLm2XkR9tB4nWc8ZpJ3sYd6HfA1gEu5KoT\n", 0o600)}, nil, "/opt/app/deploy.env"},
	{RuleAgentsMissing, tree{"var/lib/dpkg/status": reg(status(without(goodPackages, "node-agent")...), 0o644)}, nil, "node-agent (fleet monitoring)"},
	{RuleAgentsVersion, nil, &Policy{Agents: []Agent{{Name: "node-agent", Versions: ">=1.5"}}}, "node-agent 1.4.2-1 (approved >=1.5)"},
	{RuleForbidden, nil, &Policy{Forbidden: []Forbidden{{Name: "chrony", Why: "use the cloud's clock"}}}, "chrony 4.3-2+deb12u1 (use the cloud's clock)"},
}

func without(pkgs []string, name string) []string {
	var out []string
	for _, p := range pkgs {
		if !strings.HasPrefix(p, "Package: "+name+"\n") {
			out = append(out, p)
		}
	}
	return out
}

// TestGoodTreePassesEveryRule is every rule's passing fixture: the good tree passes them all.
func TestGoodTreePassesEveryRule(t *testing.T) {
	fs := audit(t, goodTree().tarball(t), Options{Policy: goodPolicy(), Secrets: scanSecrets})
	if len(fs) != len(Rules()) {
		t.Fatalf("%d findings, want one per rule (%d)", len(fs), len(Rules()))
	}
	for _, f := range fs {
		if f.Status != evidence.StatusPassed {
			t.Errorf("%s %s: %s %s %v", f.ID, f.Title, f.Status, f.Reason, f.Detail)
		}
	}
}

// TestEachRuleFails is every rule's failing fixture: one change to the good tree fails that rule,
// and only that rule.
func TestEachRuleFails(t *testing.T) {
	covered := map[string]bool{}
	for _, c := range ruleCases {
		covered[c.rule] = true
		t.Run(c.rule, func(t *testing.T) {
			policy := goodPolicy()
			if c.policy != nil {
				policy = c.policy
			}
			fs := audit(t, goodTree().with(c.change).tarball(t), Options{Policy: policy, Secrets: scanSecrets})
			for _, f := range fs {
				switch {
				case f.ID == c.rule:
					if f.Status != evidence.StatusFailed {
						t.Fatalf("%s: %s, want failed", f.ID, f.Status)
					}
					if !strings.Contains(f.Detail["found"], c.found) {
						t.Errorf("%s found %q, want it to mention %q", f.ID, f.Detail["found"], c.found)
					}
					if len(f.Locations) == 0 && c.rule != RuleSysctlSourceRoute {
						t.Errorf("%s: no location", f.ID)
					}
				case f.Status == evidence.StatusFailed:
					t.Errorf("%s also failed: %v", f.ID, f.Detail)
				}
			}
		})
	}
	for _, r := range Rules() {
		if !covered[r.ID] {
			t.Errorf("rule %s (%s) has no failing fixture", r.ID, r.Title)
		}
	}
}

// TestSSHDOrder holds sshd's own reading order: the first value wins, an Include is read where it
// stands, and Match blocks set nothing globally.
func TestSSHDOrder(t *testing.T) {
	for _, c := range []struct {
		name, main string
		dropins    tree
		want       string
	}{
		{"main before include wins", "PermitRootLogin no\nInclude sshd_config.d/*.conf\n", tree{"etc/ssh/sshd_config.d/a.conf": reg("PermitRootLogin yes\n", 0o644)}, evidence.StatusPassed},
		{"include before main wins", "Include /etc/ssh/sshd_config.d/*.conf\nPermitRootLogin no\n", tree{"etc/ssh/sshd_config.d/a.conf": reg("PermitRootLogin yes\n", 0o644)}, evidence.StatusFailed},
		{"drop-ins in name order", "Include /etc/ssh/sshd_config.d/*.conf\n", tree{"etc/ssh/sshd_config.d/10.conf": reg("PermitRootLogin no\n", 0o644), "etc/ssh/sshd_config.d/20.conf": reg("PermitRootLogin yes\n", 0o644)}, evidence.StatusPassed},
		{"drop-ins in name order, reversed", "Include /etc/ssh/sshd_config.d/*.conf\n", tree{"etc/ssh/sshd_config.d/10.conf": reg("PermitRootLogin yes\n", 0o644), "etc/ssh/sshd_config.d/20.conf": reg("PermitRootLogin no\n", 0o644)}, evidence.StatusFailed},
		{"only *.conf is included", "Include /etc/ssh/sshd_config.d/*.conf\nPermitRootLogin no\n", tree{"etc/ssh/sshd_config.d/a.conf.disabled": reg("PermitRootLogin yes\n", 0o644)}, evidence.StatusPassed},
		{"match block is conditional", "Match User backup\n  PermitRootLogin no\n", nil, evidence.StatusFailed},
		{"keywords ignore case", "permitrootlogin No\n", nil, evidence.StatusPassed},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr := goodTree().with(tree{"etc/ssh/sshd_config": reg(c.main, 0o644)}).with(c.dropins)
			got := byID(audit(t, tr.tarball(t), Options{Profile: ProfileCISL1}))[RuleSSHRootLogin]
			if got.Status != c.want {
				t.Errorf("%s: %s (%v), want %s", RuleSSHRootLogin, got.Status, got.Detail, c.want)
			}
		})
	}
}

// TestSysctlGlobs: a glob key (systemd's 50-default.conf sets net.ipv4.conf.*.rp_filter) applies to
// the keys no file sets explicitly; an explicit setting wins wherever it is.
func TestSysctlGlobs(t *testing.T) {
	glob := reg("-net.ipv4.conf.*.rp_filter = 2\n", 0o644)
	noRP := strings.NewReplacer("net.ipv4.conf.all.rp_filter = 1\n", "", "net.ipv4.conf.default.rp_filter = 1\n", "").Replace(goodSysctl)
	for _, c := range []struct {
		name   string
		change tree
		want   string
	}{
		{"explicit keys win over a later glob", tree{"usr/lib/sysctl.d/99-default.conf": glob}, evidence.StatusPassed},
		{"the glob sets the unset keys", tree{"usr/lib/sysctl.d/50-default.conf": glob, "etc/sysctl.d/60-ingot.conf": reg(noRP, 0o644)}, evidence.StatusFailed},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := byID(audit(t, goodTree().with(c.change).tarball(t), Options{}))[RuleSysctlRPFilter]
			if got.Status != c.want {
				t.Errorf("%s: %s (%v), want %s", RuleSysctlRPFilter, got.Status, got.Detail, c.want)
			}
			if c.want == evidence.StatusFailed && !strings.Contains(got.Detail["found"], "net.ipv4.conf.all.rp_filter = 2") {
				t.Errorf("found %q", got.Detail["found"])
			}
		})
	}
}

// TestSysctlPrecedence holds systemd-sysctl's order: one file per name, /etc over /run over /usr/lib,
// a link to /dev/null masks, and the files apply in name order.
func TestSysctlPrecedence(t *testing.T) {
	weak := reg("net.ipv4.ip_forward = 1\n", 0o644)
	for _, c := range []struct {
		name   string
		change tree
		want   string
	}{
		{"etc hides the vendor file of the same name", tree{"usr/lib/sysctl.d/70-router.conf": weak, "etc/sysctl.d/70-router.conf": reg("net.ipv4.ip_forward = 0\n", 0o644)}, evidence.StatusPassed},
		{"a link to /dev/null masks it", tree{"usr/lib/sysctl.d/70-router.conf": weak, "etc/sysctl.d/70-router.conf": symlink("/dev/null")}, evidence.StatusPassed},
		{"run hides lib", tree{"lib/sysctl.d/70-router.conf": weak, "run/sysctl.d/70-router.conf": reg("", 0o644)}, evidence.StatusPassed},
		{"a later name overrides", tree{"usr/lib/sysctl.d/70-router.conf": weak}, evidence.StatusFailed},
		{"an earlier name is overridden", tree{"usr/lib/sysctl.d/10-router.conf": weak}, evidence.StatusPassed},
		{"only *.conf", tree{"etc/sysctl.d/99-router.conf.dpkg-old": weak}, evidence.StatusPassed},
		{"a symlinked file is read through its link, inside the tree", tree{"etc/sysctl.d/99-router.conf": symlink("../../opt/router.conf"), "opt/router.conf": weak}, evidence.StatusFailed},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := byID(audit(t, goodTree().with(c.change).tarball(t), Options{}))[RuleSysctlForward]
			if got.Status != c.want {
				t.Errorf("%s: %s (%v), want %s", RuleSysctlForward, got.Status, got.Detail, c.want)
			}
		})
	}
}

func TestProfilesAndWaivers(t *testing.T) {
	tr := goodTree().with(tree{"root/.bash_history": reg("ls\n", 0o600), "etc/fstab": reg("", 0o644)}).tarball(t)
	l1 := byID(audit(t, tr, Options{Profile: ProfileCISL1}))
	l2 := byID(audit(t, tr, Options{Profile: ProfileCISL2}))
	if _, ok := l1[RuleHistories]; ok {
		t.Error("cis-l1 has the leftover rules, which are ingot's own")
	}
	if _, ok := l1[RuleAuditd]; ok {
		t.Error("cis-l1 has the auditd rule, a Level 2 recommendation")
	}
	if _, ok := l2[RuleAuditd]; !ok {
		t.Error("cis-l2 lacks the auditd rule")
	}
	if l1[RuleMountVarTmp].Status != evidence.StatusFailed || l2[RuleMountTmp].Status != evidence.StatusFailed {
		t.Errorf("cis-l1 /var/tmp %v, cis-l2 /tmp %v: both failed", l1[RuleMountVarTmp], l2[RuleMountTmp])
	}
	if _, ok := l1[RuleAgentsMissing]; !ok {
		t.Error("the agents rules belong to every profile")
	}
	fs := byID(audit(t, tr, Options{Waivers: []harden.Waiver{{Rule: RuleHistories, Reason: "rotated at first boot"}}}))
	if f := fs[RuleHistories]; f.Status != evidence.StatusWaived || f.Reason != "rotated at first boot" {
		t.Errorf("waived rule: %s %q", f.Status, f.Reason)
	}
	for _, bad := range []Options{
		{Profile: "cis"},
		{Waivers: []harden.Waiver{{Rule: "INGOT-V999", Reason: "typo"}}},
		{Waivers: []harden.Waiver{{Rule: RuleLogs}}},
		{Waivers: []harden.Waiver{{Rule: RuleLogs, Reason: "a"}, {Rule: RuleLogs, Reason: "b"}}},
	} {
		if err := bad.Validate(); !errors.Is(err, fault.Invalid) {
			t.Errorf("Validate(%+v) = %v, want an invalid-input error", bad, err)
		}
	}
}
