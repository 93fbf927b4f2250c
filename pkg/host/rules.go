package host

import (
	"slices"

	"github.com/ingot-build/ingot/pkg/evidence"
)

// Profile is a named set of rules.
type Profile string

// Profiles, as ingot lint has them: the default is the strictest.
const (
	// ProfileMinimal is every rule: what ingot's golden VM images must pass. It is the default.
	ProfileMinimal Profile = "minimal"
	// ProfileCISL1 is the rules that implement a Level 1 recommendation of the CIS Debian Linux 12
	// Benchmark, plus the agents policy.
	ProfileCISL1 Profile = "cis-l1"
	// ProfileCISL2 adds the rules of Level 2 recommendations to cis-l1.
	ProfileCISL2 Profile = "cis-l2"
)

// Profiles lists the profiles, default first.
func Profiles() []Profile { return []Profile{ProfileMinimal, ProfileCISL1, ProfileCISL2} }

// Benchmark is the benchmark the CIS references of the rules point into.
const Benchmark = "CIS Debian Linux 12 Benchmark v1.1.0"

// Rule IDs. They are stable: a waiver or a policy names them, so a rule is never renumbered.
const (
	RuleSSHRootLogin       = "INGOT-V001"
	RuleSSHPassword        = "INGOT-V002" //nolint:gosec // a rule ID, not a credential
	RuleSSHEmptyPassword   = "INGOT-V003" //nolint:gosec // a rule ID, not a credential
	RuleSSHX11             = "INGOT-V004"
	RuleSSHCrypto          = "INGOT-V005"
	RuleSSHMaxAuthTries    = "INGOT-V006"
	RuleSysctlForward      = "INGOT-V010"
	RuleSysctlRedirects    = "INGOT-V011"
	RuleSysctlSendRedirect = "INGOT-V012"
	RuleSysctlSourceRoute  = "INGOT-V013"
	RuleSysctlRPFilter     = "INGOT-V014"
	RuleSysctlASLR         = "INGOT-V015"
	RuleSysctlKptr         = "INGOT-V016"
	RuleSysctlDmesg        = "INGOT-V017"
	RuleSysctlPtrace       = "INGOT-V018"
	RuleLegacyServers      = "INGOT-V020"
	RuleLegacyClients      = "INGOT-V021"
	RuleUnneededServices   = "INGOT-V022"
	RuleEnabledUnits       = "INGOT-V023"
	RuleAccountFilePerms   = "INGOT-V030"
	RuleCronPerms          = "INGOT-V031"
	RuleUID0               = "INGOT-V032"
	RuleEmptyPassword      = "INGOT-V033" //nolint:gosec // a rule ID, not a credential
	RuleMountTmp           = "INGOT-V040"
	RuleMountDevShm        = "INGOT-V041"
	RuleMountVarTmp        = "INGOT-V042"
	RuleAuditd             = "INGOT-V050"
	RuleTimeSync           = "INGOT-V051"
	RuleAppArmor           = "INGOT-V052"
	RuleAutoUpdates        = "INGOT-V053"
	RuleHostKeys           = "INGOT-V060"
	RuleAuthorizedKeys     = "INGOT-V061"
	RuleHistories          = "INGOT-V062"
	RuleMachineID          = "INGOT-V063"
	RuleCloudInit          = "INGOT-V064"
	RuleDHCPLeases         = "INGOT-V065"
	RuleTmpContents        = "INGOT-V066"
	RuleAptCaches          = "INGOT-V067"
	RuleLogs               = "INGOT-V068"
	RuleSecrets            = "INGOT-V069" //nolint:gosec // a rule ID, not a credential
	RuleAgentsMissing      = "INGOT-V070"
	RuleAgentsVersion      = "INGOT-V071"
	RuleForbidden          = "INGOT-V072"
)

// Rule describes one audit check.
type Rule struct {
	ID string
	// Title states what the rule requires, so "passed" and "failed" both read right after it.
	Title string
	// Description says why the rule matters; Remediation what to change when it fails.
	Description, Remediation string
	Severity                 evidence.Severity
	// CIS lists the Benchmark recommendations the rule implements ("5.1.20"); empty when the rule is
	// ingot's own.
	CIS []string
	// Level is the CIS profile level of those recommendations (1 or 2); 0 for ingot's own rules.
	Level int
	// Always puts the rule in every profile: the agents policy, which the user asked for explicitly.
	Always bool
}

// In reports whether the rule belongs to profile p.
func (r Rule) In(p Profile) bool {
	switch {
	case p == ProfileMinimal || r.Always:
		return true
	case p == ProfileCISL1:
		return r.Level == 1
	case p == ProfileCISL2:
		return r.Level == 1 || r.Level == 2
	}
	return false
}

// cisRef renders the CIS references for a finding.
func (r Rule) cisRef() string {
	if len(r.CIS) == 0 {
		return ""
	}
	out := "Debian 12 "
	for i, c := range r.CIS {
		if i > 0 {
			out += ", "
		}
		out += c
	}
	return out
}

const (
	high     = evidence.SeverityHigh
	medium   = evidence.SeverityMedium
	low      = evidence.SeverityLow
	critical = evidence.SeverityCritical
)

// Rules returns every rule, in ID order.
func Rules() []Rule {
	rules := []Rule{
		{ID: RuleSSHRootLogin, Title: "sshd: PermitRootLogin no", Severity: high, CIS: []string{"5.1.20"}, Level: 1,
			Description: "Root logging in directly leaves no trace of who did it and hands an attacker who guesses or steals one key the whole machine. OpenSSH's default, prohibit-password, still admits root with a key.",
			Remediation: "Set PermitRootLogin no in /etc/ssh/sshd_config (before any Match block), or in the first sshd_config.d file that sets it; log in as a user and escalate with sudo."},
		{ID: RuleSSHPassword, Title: "sshd: PasswordAuthentication no", Severity: medium,
			Description: "Passwords over SSH are guessed by the botnets that scan every cloud address within minutes of boot; keys or certificates are not. (The CIS Benchmark has no item for it; ingot's golden images require it.)",
			Remediation: "Set PasswordAuthentication no (and KbdInteractiveAuthentication no) in sshd_config or an sshd_config.d file read before any that sets it."},
		{ID: RuleSSHEmptyPassword, Title: "sshd: PermitEmptyPasswords no", Severity: high, CIS: []string{"5.1.19"}, Level: 1,
			Description: "With PermitEmptyPasswords yes an account whose password is empty logs in over the network with no secret at all.",
			Remediation: "Remove PermitEmptyPasswords yes or set it to no."},
		{ID: RuleSSHX11, Title: "sshd: X11 forwarding disabled", Severity: medium, CIS: []string{"5.1.8"}, Level: 2,
			Description: "X11 forwarding exposes the client's display to the server, and a compromised server to the client's keystrokes; servers have no use for it. Debian's default sshd_config sets X11Forwarding yes. (5.1.8 asks for DisableForwarding yes, which turns off every kind of forwarding; this rule requires X11 forwarding off, by either keyword.)",
			Remediation: "Set X11Forwarding no, or DisableForwarding yes, in sshd_config."},
		{ID: RuleSSHCrypto, Title: "sshd: no weak ciphers or MACs", Severity: medium, CIS: []string{"5.1.6", "5.1.15"}, Level: 1,
			Description: "CBC-mode ciphers, RC4 (arcfour), 3DES and Blowfish, and MD5, RIPEMD-160, SHA-1-96 and 64-bit UMAC MACs are broken or too weak. OpenSSH 8.4 and later enable none of them by default; a Ciphers or MACs line can bring them back.",
			Remediation: "Remove them from the Ciphers and MACs lines (or remove the lines to take OpenSSH's defaults)."},
		{ID: RuleSSHMaxAuthTries, Title: "sshd: MaxAuthTries 4 or less", Severity: medium, CIS: []string{"5.1.16"}, Level: 1,
			Description: "Each connection may try this many authentications; a low number slows guessing and makes it visible in the logs. OpenSSH's default is 6.",
			Remediation: "Set MaxAuthTries 4 (or less) in sshd_config."},

		{ID: RuleSysctlForward, Title: "sysctl: IP forwarding disabled", Severity: medium, CIS: []string{"3.3.1"}, Level: 1,
			Description: "A host that forwards packets is a router: it can pass traffic between networks its firewall was meant to separate. net.ipv4.ip_forward and net.ipv6.conf.all.forwarding must be 0.",
			Remediation: "Set net.ipv4.ip_forward = 0 and net.ipv6.conf.all.forwarding = 0 in a file under /etc/sysctl.d (hosts that run containers or VPNs waive this rule)."},
		{ID: RuleSysctlRedirects, Title: "sysctl: ICMP redirects not accepted", Severity: medium, CIS: []string{"3.3.5", "3.3.6"}, Level: 1,
			Description: "An ICMP redirect rewrites the routing table on a stranger's say-so: an attacker on the link uses it to route traffic through himself. The kernel accepts them by default.",
			Remediation: "Set net.ipv4.conf.{all,default}.accept_redirects, net.ipv4.conf.{all,default}.secure_redirects and net.ipv6.conf.{all,default}.accept_redirects to 0 under /etc/sysctl.d."},
		{ID: RuleSysctlSendRedirect, Title: "sysctl: ICMP redirects not sent", Severity: medium, CIS: []string{"3.3.2"}, Level: 1,
			Description: "Only a router has a reason to send redirects; a host that sends them can be used to mislead its neighbours. The kernel sends them by default.",
			Remediation: "Set net.ipv4.conf.all.send_redirects = 0 and net.ipv4.conf.default.send_redirects = 0 under /etc/sysctl.d."},
		{ID: RuleSysctlSourceRoute, Title: "sysctl: source-routed packets not accepted", Severity: medium, CIS: []string{"3.3.8"}, Level: 1,
			Description: "A source-routed packet chooses its own path, which lets an attacker reach addresses that routing would not expose. The kernel's default for new IPv4 interfaces accepts them.",
			Remediation: "Set net.ipv4.conf.{all,default}.accept_source_route and net.ipv6.conf.{all,default}.accept_source_route to 0 under /etc/sysctl.d."},
		{ID: RuleSysctlRPFilter, Title: "sysctl: strict reverse path filtering", Severity: medium, CIS: []string{"3.3.7"}, Level: 1,
			Description: "Strict reverse path filtering drops packets whose source address could not be answered through the interface they came in on: spoofed sources. The kernel's default is off (systemd's is loose, 2).",
			Remediation: "Set net.ipv4.conf.all.rp_filter = 1 and net.ipv4.conf.default.rp_filter = 1 under /etc/sysctl.d."},
		{ID: RuleSysctlASLR, Title: "sysctl: full address space layout randomisation", Severity: high, CIS: []string{"1.5.1"}, Level: 1,
			Description: "With kernel.randomize_va_space below 2 the stack, libraries or heap sit at predictable addresses, which memory-corruption exploits rely on. The kernel's default is 2.",
			Remediation: "Remove the setting that lowers kernel.randomize_va_space, or set it to 2."},
		{ID: RuleSysctlKptr, Title: "sysctl: kernel pointers hidden", Severity: low,
			Description: "kernel.kptr_restrict >= 1 hides kernel addresses in /proc from unprivileged users, who would otherwise use them to defeat KASLR. (Not a CIS item; the Kernel Self Protection Project recommends it.)",
			Remediation: "Set kernel.kptr_restrict = 1 (or 2) under /etc/sysctl.d."},
		{ID: RuleSysctlDmesg, Title: "sysctl: kernel log restricted", Severity: low,
			Description: "kernel.dmesg_restrict = 1 keeps the kernel log, which leaks addresses and hardware details, from unprivileged users. Debian's kernel defaults to 1; a setting of 0 undoes it. (Not a CIS item; KSPP recommends it.)",
			Remediation: "Remove the setting that lowers kernel.dmesg_restrict, or set it to 1."},
		{ID: RuleSysctlPtrace, Title: "sysctl: ptrace restricted", Severity: medium, CIS: []string{"1.5.2"}, Level: 1,
			Description: "With kernel.yama.ptrace_scope 0 any process may attach to any other of the same user and read its memory, keys included. Debian's kernel defaults to 0.",
			Remediation: "Set kernel.yama.ptrace_scope = 1 (or higher) under /etc/sysctl.d."},

		{ID: RuleLegacyServers, Title: "No legacy network servers installed", Severity: high, CIS: []string{"2.1.10", "2.1.16", "2.1.19"}, Level: 1,
			Description: "telnet, rsh, rlogin, talk and TFTP servers send credentials or files in clear text and authenticate weakly or not at all; xinetd and NIS belong to the same era.",
			Remediation: "Purge the packages listed (apt-get purge) and use SSH instead."},
		{ID: RuleLegacyClients, Title: "No legacy network clients installed", Severity: medium, CIS: []string{"2.2.1", "2.2.2", "2.2.3", "2.2.4", "2.2.6"}, Level: 1,
			Description: "telnet, rsh, talk, NIS and FTP clients send credentials in clear text; having them installed invites their use.",
			Remediation: "Purge the packages listed."},
		{ID: RuleUnneededServices, Title: "No unneeded services installed", Severity: medium, CIS: []string{"2.1.1", "2.1.2", "2.1.3", "2.1.4", "2.1.5", "2.1.6", "2.1.7", "2.1.8", "2.1.9", "2.1.11", "2.1.12", "2.1.14", "2.1.15", "2.1.17", "2.1.18", "2.1.20"}, Level: 1,
			Description: "Every listening service is attack surface: avahi, CUPS, DHCP, DNS, FTP, LDAP, IMAP/POP, NFS, rpcbind, Samba, SNMP, proxies, web servers and X have no place in a golden image unless it exists to run them.",
			Remediation: "Purge the packages listed, or waive this rule in the image that exists to run one of them."},
		{ID: RuleEnabledUnits, Title: "No legacy or unneeded service enabled", Severity: high, CIS: []string{"2.1.2", "2.1.11", "2.1.12", "2.1.16", "2.1.19"}, Level: 1,
			Description: "An enabled unit (a symlink in a .wants directory under /etc/systemd/system) starts at boot whether or not anyone meant it to; an enabled legacy or unneeded service listens on every instance.",
			Remediation: "systemctl disable (or mask) the units listed, or purge their packages."},

		{ID: RuleAccountFilePerms, Title: "Account files owned by root with strict modes", Severity: high, CIS: []string{"7.1.1", "7.1.2", "7.1.3", "7.1.4", "7.1.5", "7.1.6", "7.1.7", "7.1.8"}, Level: 1,
			Description: "/etc/passwd and /etc/group (and their backups) must be root-owned and at most 0644; /etc/shadow and /etc/gshadow (and their backups) root-owned, group root or shadow, and at most 0640: password hashes readable by others can be cracked offline.",
			Remediation: "chown root:root /etc/passwd /etc/group; chmod 0644 them; chown root:shadow /etc/shadow /etc/gshadow; chmod 0640 them (and the same for the - backups)."},
		{ID: RuleCronPerms, Title: "cron files owned by root, not readable by others", Severity: medium, CIS: []string{"2.4.1.2", "2.4.1.3", "2.4.1.4", "2.4.1.5", "2.4.1.6", "2.4.1.7"}, Level: 1,
			Description: "Readable cron files tell an attacker what runs as root and when; writable ones let him add to it. /etc/crontab must be 0600 and /etc/cron.{hourly,daily,weekly,monthly,d} 0700, all owned by root. Debian installs them 0644 and 0755.",
			Remediation: "chown root:root and chmod og-rwx /etc/crontab and the /etc/cron.* directories."},
		{ID: RuleUID0, Title: "root is the only account with UID 0", Severity: high, CIS: []string{"5.4.2.1"}, Level: 1,
			Description: "Any account with UID 0 is root under another name: a backdoor that reviews of who has root miss.",
			Remediation: "Remove the account, or give it its own UID."},
		{ID: RuleEmptyPassword, Title: "No account with an empty password", Severity: high, CIS: []string{"7.2.2"}, Level: 1,
			Description: "An empty password field in /etc/shadow (or in /etc/passwd) lets anyone log in as that account without a password.",
			Remediation: "Lock the account (passwd -l) or set a password; put x in /etc/passwd's field."},

		{ID: RuleMountTmp, Title: "/tmp mounted nodev,nosuid,noexec", Severity: medium, CIS: []string{"1.1.2.1.1", "1.1.2.1.2", "1.1.2.1.3", "1.1.2.1.4"}, Level: 1,
			Description: "/tmp is writable by every user; mounted without nodev, nosuid and noexec it is where an attacker drops and runs his tools or plants device files. Options need a mount of its own: an fstab entry or an enabled tmp.mount.",
			Remediation: "Add an fstab line such as \"tmpfs /tmp tmpfs defaults,rw,nosuid,nodev,noexec,relatime,size=2G 0 0\"."},
		{ID: RuleMountDevShm, Title: "/dev/shm mounted nodev,nosuid,noexec", Severity: medium, CIS: []string{"1.1.2.2.1", "1.1.2.2.2", "1.1.2.2.3", "1.1.2.2.4"}, Level: 1,
			Description: "/dev/shm is world-writable shared memory; systemd mounts it nosuid,nodev but not noexec, so the options must come from fstab.",
			Remediation: "Add \"tmpfs /dev/shm tmpfs defaults,rw,nosuid,nodev,noexec,relatime 0 0\" to /etc/fstab."},
		{ID: RuleMountVarTmp, Title: "/var/tmp mounted nodev,nosuid,noexec", Severity: medium, CIS: []string{"1.1.2.5.1", "1.1.2.5.2", "1.1.2.5.3", "1.1.2.5.4"}, Level: 1,
			Description: "/var/tmp is world-writable and survives reboots; it needs a mount of its own with nodev, nosuid and noexec for the same reasons as /tmp.",
			Remediation: "Give /var/tmp an fstab entry (a partition, or a bind mount) with nodev,nosuid,noexec."},

		{ID: RuleAuditd, Title: "auditd installed and enabled", Severity: medium, CIS: []string{"6.2.1.1", "6.2.1.2"}, Level: 2,
			Description: "Without the audit daemon, changes to accounts, permissions and privileged commands leave no record an investigation can rely on.",
			Remediation: "Install auditd and audispd-plugins and enable auditd.service."},
		{ID: RuleTimeSync, Title: "Time synchronisation present", Severity: medium, CIS: []string{"2.3.1.1"}, Level: 1,
			Description: "Logs, certificates, Kerberos and TOTP all depend on the clock; a machine without time synchronisation drifts. One of systemd-timesyncd (enabled), chrony or ntp must be there.",
			Remediation: "Install chrony, or enable systemd-timesyncd.service."},
		{ID: RuleAppArmor, Title: "AppArmor installed and not disabled at boot", Severity: medium, CIS: []string{"1.3.1.1", "1.3.1.2"}, Level: 1,
			Description: "AppArmor confines the services that ship profiles; Debian's kernel enables it, but only with the apparmor package are profiles loaded, and apparmor=0 or another security= on the kernel command line turns it off.",
			Remediation: "Install apparmor (and apparmor-utils); remove apparmor=0 and any other security= from GRUB_CMDLINE_LINUX."},
		{ID: RuleAutoUpdates, Title: "Unattended security updates configured", Severity: medium, CIS: []string{"1.2.2.1"}, Level: 1,
			Description: "A golden image ages from the day it is built; machines that live for months need security updates between rebuilds.",
			Remediation: "Install unattended-upgrades and set APT::Periodic::Update-Package-Lists \"1\" and APT::Periodic::Unattended-Upgrade \"1\" in /etc/apt/apt.conf.d/20auto-upgrades."},

		{ID: RuleHostKeys, Title: "No SSH host keys", Severity: critical,
			Description: "Host keys baked into an image are shared by every machine made from it: one leaked copy lets anyone impersonate all of them. They must be generated at first boot.",
			Remediation: "rm /etc/ssh/ssh_host_*key* at the end of the build; Debian's openssh-server regenerates them at boot (ingot host build does this)."},
		{ID: RuleAuthorizedKeys, Title: "No authorized_keys", Severity: high,
			Description: "An authorized_keys file in the image grants its keys' owners a login on every machine made from it, for the image's whole life. Keys are injected per instance (cloud-init, the cloud's metadata).",
			Remediation: "Remove the authorized_keys files and provision keys at boot."},
		{ID: RuleHistories, Title: "No shell histories", Severity: medium,
			Description: "Shell and REPL histories record the commands of the build, and often the passwords and tokens typed into them.",
			Remediation: "Remove them at the end of the build (and build without an interactive shell)."},
		{ID: RuleMachineID, Title: "Empty /etc/machine-id", Severity: medium,
			Description: "The machine ID must be unique per machine: systemd derives DHCP client IDs, journal names and more from it. An image must ship it empty (or absent) so that first boot generates one.",
			Remediation: "truncate -s 0 /etc/machine-id and remove /var/lib/dbus/machine-id (or link it to /etc/machine-id)."},
		{ID: RuleCloudInit, Title: "No cloud-init instance data or logs", Severity: medium,
			Description: "cloud-init's instance directory makes a new machine believe it already ran its first boot (so it skips user data and key injection), and its logs and data hold the build machine's metadata and user data.",
			Remediation: "cloud-init clean --logs --seed at the end of the build."},
		{ID: RuleDHCPLeases, Title: "No DHCP leases", Severity: low,
			Description: "A lease from the build network makes the first boot ask for the build machine's address and leaks that network's layout.",
			Remediation: "Remove /var/lib/dhcp/*.leases and the other lease files at the end of the build."},
		{ID: RuleTmpContents, Title: "/tmp and /var/tmp empty", Severity: low,
			Description: "Files left in /tmp and /var/tmp are build debris: scripts, downloads, sometimes credentials.",
			Remediation: "Empty /tmp and /var/tmp at the end of the build."},
		{ID: RuleAptCaches, Title: "No apt lists or package caches", Severity: low,
			Description: "Package lists go stale the day the image is built, and the cache holds every downloaded .deb: space for nothing, and a record of the build's sources.",
			Remediation: "apt-get clean and rm -rf /var/lib/apt/lists/* at the end of the build."},
		{ID: RuleLogs, Title: "No logs from the build", Severity: low,
			Description: "Logs under /var/log record the build machine's activity (and sometimes its secrets), and every machine made from the image starts with another machine's history.",
			Remediation: "Truncate or remove the files under /var/log at the end of the build."},
		{ID: RuleSecrets, Title: "No secrets", Severity: critical,
			Description: "Credentials in the image are readable by everyone who can read the image, on every machine made from it, for as long as any copy exists (the rules of ingot secrets).",
			Remediation: "Revoke the credential, rebuild without it, and provide secrets at boot."},

		{ID: RuleAgentsMissing, Title: "Required agents installed", Severity: high, Always: true,
			Description: "The audit policy lists the agents every machine must run (monitoring, logging, security); a machine without them is invisible to the teams that depend on them.",
			Remediation: "Install the listed packages in the image."},
		{ID: RuleAgentsVersion, Title: "Agents at approved versions", Severity: high, Always: true,
			Description: "An agent at a version outside the policy's range is a shadow version: untested with the fleet's configuration, or with known problems.",
			Remediation: "Install a version inside the approved range, or widen the range in the policy."},
		{ID: RuleForbidden, Title: "No forbidden packages", Severity: high, Always: true,
			Description: "The audit policy forbids these packages in every image.",
			Remediation: "Purge the listed packages."},
	}
	return rules
}

// isRule says whether id is one of the audit's rules (a waiver's target; not a vulnerability).
func isRule(id string) bool {
	return slices.ContainsFunc(Rules(), func(r Rule) bool { return r.ID == id })
}
