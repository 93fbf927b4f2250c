package host

import (
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/harden"
)

// auditor holds what the checks read, gathered once.
type auditor struct {
	t      *Tree
	policy *Policy
	// pkgs are the installed packages; hasDpkg is false for a tree without dpkg's database.
	pkgs    map[string]dpkgPackage
	hasDpkg bool
	sshd    sshdConfig
	hasSSHD bool
	sysctl  map[string]sysctlSetting
	globs   []globSetting
	units   map[string]string
}

func (a *auditor) load() error {
	var err error
	if a.pkgs, a.hasDpkg, err = a.t.readDpkg(); err != nil {
		return err
	}
	if a.sshd, a.hasSSHD, err = a.t.readSSHD(); err != nil {
		return fmt.Errorf("reading sshd_config: %w", err)
	}
	if a.sysctl, a.globs, err = a.t.readSysctl(); err != nil {
		return fmt.Errorf("reading sysctl settings: %w", err)
	}
	if a.units, err = a.t.enabledUnits(); err != nil {
		return fmt.Errorf("reading enabled units: %w", err)
	}
	return nil
}

type checkFunc func(a *auditor) (harden.Result, error)

// checks maps each rule to its check; the secrets rule runs apart (it needs the context).
func checks() map[string]checkFunc {
	return map[string]checkFunc{
		RuleSSHRootLogin: sshdCheck("PermitRootLogin", "prohibit-password", func(v string) bool { return strings.EqualFold(v, "no") }),
		RuleSSHPassword:  sshdCheck("PasswordAuthentication", "yes", func(v string) bool { return strings.EqualFold(v, "no") }),
		RuleSSHEmptyPassword: sshdCheck("PermitEmptyPasswords", "no", func(v string) bool {
			return strings.EqualFold(v, "no")
		}),
		RuleSSHX11:             checkSSHX11,
		RuleSSHCrypto:          checkSSHCrypto,
		RuleSSHMaxAuthTries:    sshdCheck("MaxAuthTries", "6", func(v string) bool { n, err := strconv.Atoi(v); return err == nil && n <= 4 }),
		RuleSysctlForward:      sysctlCheck(eq("0"), kv("net.ipv4.ip_forward", "0"), kv("net.ipv6.conf.all.forwarding", "0")),
		RuleSysctlRedirects:    sysctlCheck(eq("0"), kv("net.ipv4.conf.all.accept_redirects", "1"), kv("net.ipv4.conf.default.accept_redirects", "1"), kv("net.ipv4.conf.all.secure_redirects", "1"), kv("net.ipv4.conf.default.secure_redirects", "1"), kv("net.ipv6.conf.all.accept_redirects", "1"), kv("net.ipv6.conf.default.accept_redirects", "1")),
		RuleSysctlSendRedirect: sysctlCheck(eq("0"), kv("net.ipv4.conf.all.send_redirects", "1"), kv("net.ipv4.conf.default.send_redirects", "1")),
		RuleSysctlSourceRoute:  sysctlCheck(eq("0"), kv("net.ipv4.conf.all.accept_source_route", "0"), kv("net.ipv4.conf.default.accept_source_route", "1"), kv("net.ipv6.conf.all.accept_source_route", "0"), kv("net.ipv6.conf.default.accept_source_route", "0")),
		RuleSysctlRPFilter:     sysctlCheck(eq("1"), kv("net.ipv4.conf.all.rp_filter", "0"), kv("net.ipv4.conf.default.rp_filter", "0")),
		RuleSysctlASLR:         sysctlCheck(eq("2"), kv("kernel.randomize_va_space", "2")),
		RuleSysctlKptr:         sysctlCheck(atLeast(1), kv("kernel.kptr_restrict", "0")),
		RuleSysctlDmesg:        sysctlCheck(eq("1"), kv("kernel.dmesg_restrict", "1")),
		RuleSysctlPtrace:       sysctlCheck(atLeast(1), kv("kernel.yama.ptrace_scope", "0")),
		RuleLegacyServers:      packagesAbsent(legacyServers),
		RuleLegacyClients:      packagesAbsent(legacyClients),
		RuleUnneededServices:   packagesAbsent(unneededServices),
		RuleEnabledUnits:       checkEnabledUnits,
		RuleAccountFilePerms:   checkAccountFilePerms,
		RuleCronPerms:          checkCronPerms,
		RuleUID0:               checkUID0,
		RuleEmptyPassword:      checkEmptyPassword,
		RuleMountTmp:           mountCheck("/tmp", "tmp.mount"),
		RuleMountDevShm:        mountCheck("/dev/shm", ""),
		RuleMountVarTmp:        mountCheck("/var/tmp", "var-tmp.mount"),
		RuleAuditd:             checkAuditd,
		RuleTimeSync:           checkTimeSync,
		RuleAppArmor:           checkAppArmor,
		RuleAutoUpdates:        checkAutoUpdates,
		RuleHostKeys:           leftoverCheck(hostKeys),
		RuleAuthorizedKeys:     leftoverCheck(authorizedKeys),
		RuleHistories:          leftoverCheck(histories),
		RuleMachineID:          leftoverCheck(machineID),
		RuleCloudInit:          leftoverCheck(cloudInit),
		RuleDHCPLeases:         leftoverCheck(dhcpLeases),
		RuleTmpContents:        leftoverCheck(tmpContents),
		RuleAptCaches:          leftoverCheck(aptCaches),
		RuleLogs:               leftoverCheck(logs),
		RuleAgentsMissing:      checkAgentsMissing,
		RuleAgentsVersion:      checkAgentsVersion,
		RuleForbidden:          checkForbidden,
	}
}

// sshdCheck passes when sshd is not installed, or when the keyword's effective value (def when no
// file sets it: OpenSSH's default) satisfies ok.
func sshdCheck(key, def string, ok func(string) bool) checkFunc {
	return func(a *auditor) (harden.Result, error) {
		if r, done := a.noSSHD(); done {
			return r, nil
		}
		v, set := a.sshd[strings.ToLower(key)]
		if !set {
			v.value = def
		}
		if ok(v.value) {
			return harden.Passed(""), nil
		}
		if !set {
			return harden.Failed(fmt.Sprintf("%s is not set: OpenSSH's default is %s", key, def), nil, []evidence.Location{{Path: "/etc/ssh/sshd_config"}}), nil
		}
		return harden.Failed(fmt.Sprintf("%s %s", key, v.value), nil, []evidence.Location{{Path: v.file, Line: v.line}}), nil
	}
}

func (a *auditor) noSSHD() (harden.Result, bool) {
	if !a.hasSSHD {
		return harden.Passed("sshd is not installed (no /etc/ssh/sshd_config)"), true
	}
	return harden.Result{}, false
}

func checkSSHX11(a *auditor) (harden.Result, error) {
	if r, done := a.noSSHD(); done {
		return r, nil
	}
	if v, ok := a.sshd["disableforwarding"]; ok && strings.EqualFold(v.value, "yes") {
		return harden.Passed("DisableForwarding yes"), nil
	}
	v, ok := a.sshd["x11forwarding"]
	if !ok || strings.EqualFold(v.value, "no") {
		return harden.Passed(""), nil
	}
	return harden.Failed("X11Forwarding "+v.value, nil, []evidence.Location{{Path: v.file, Line: v.line}}), nil
}

// Weak algorithms, as the Benchmark lists them (5.1.6, 5.1.15).
var (
	weakCiphers = []string{"3des-cbc", "aes128-cbc", "aes192-cbc", "aes256-cbc", "arcfour", "arcfour128", "arcfour256", "blowfish-cbc", "cast128-cbc", "rijndael-cbc@lysator.liu.se"}
	weakMACs    = []string{"hmac-md5", "hmac-md5-96", "hmac-ripemd160", "hmac-sha1-96", "umac-64@openssh.com", "hmac-md5-etm@openssh.com", "hmac-md5-96-etm@openssh.com", "hmac-ripemd160-etm@openssh.com", "hmac-sha1-96-etm@openssh.com", "umac-64-etm@openssh.com"}
)

func checkSSHCrypto(a *auditor) (harden.Result, error) {
	if r, done := a.noSSHD(); done {
		return r, nil
	}
	var items []string
	var locs []evidence.Location
	for _, kw := range []struct {
		key  string
		weak []string
	}{{"ciphers", weakCiphers}, {"macs", weakMACs}} {
		v, ok := a.sshd[kw.key]
		if !ok {
			continue
		}
		list := v.value
		// "-" removes from the defaults, which hold nothing weak; "+" and "^" add to them.
		if strings.HasPrefix(list, "-") {
			continue
		}
		list = strings.TrimLeft(list, "+^")
		for _, alg := range strings.Split(list, ",") {
			alg = strings.ToLower(strings.TrimSpace(alg))
			if slices.Contains(kw.weak, alg) {
				items = append(items, alg)
				locs = append(locs, evidence.Location{Path: v.file, Line: v.line})
			}
		}
	}
	if len(items) == 0 {
		return harden.Passed(""), nil
	}
	return harden.Failed("weak algorithm(s)", items, dedupLocs(locs)), nil
}

func dedupLocs(locs []evidence.Location) []evidence.Location {
	var out []evidence.Location
	for _, l := range locs {
		if !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	return out
}

// sysctlKey is a key and the value it has when nothing sets it.
type sysctlKey struct{ key, def string }

func kv(key, def string) sysctlKey { return sysctlKey{key, def} }

func eq(want string) func(string) bool { return func(v string) bool { return v == want } }

func atLeast(n int) func(string) bool {
	return func(v string) bool { i, err := strconv.Atoi(v); return err == nil && i >= n }
}

// sysctlCheck passes when every key's boot value (as systemd-sysctl computes it from the tree, the
// kernel's default when nothing sets it) satisfies ok.
func sysctlCheck(ok func(string) bool, keys ...sysctlKey) checkFunc {
	return func(a *auditor) (harden.Result, error) {
		var items []string
		var locs []evidence.Location
		for _, k := range keys {
			s := sysctlValue(a.sysctl, a.globs, k.key, k.def)
			if ok(s.value) {
				continue
			}
			if s.file == "" {
				items = append(items, fmt.Sprintf("%s unset (kernel default %s)", k.key, s.value))
				continue
			}
			items = append(items, fmt.Sprintf("%s = %s", k.key, s.value))
			locs = append(locs, evidence.Location{Path: s.file, Line: s.line})
		}
		if len(items) == 0 {
			return harden.Passed(""), nil
		}
		return harden.Failed("sysctl", items, dedupLocs(locs)), nil
	}
}

// Packages by rule. The lists name Debian 11 and 12 packages.
var (
	legacyServers = []string{"telnetd", "inetutils-telnetd", "telnetd-ssl", "rsh-server", "rsh-redone-server", "talkd", "inetutils-talkd", "tftpd", "tftpd-hpa", "atftpd", "xinetd", "nis", "ypserv", "openbsd-inetd", "inetutils-inetd"}
	legacyClients = []string{"telnet", "inetutils-telnet", "rsh-client", "rsh-redone-client", "talk", "inetutils-talk", "ftp", "tnftp", "inetutils-ftp", "yp-tools"}
	// nis is both server and client; it is listed once, as a server.
	unneededServices = []string{"autofs", "avahi-daemon", "isc-dhcp-server", "kea-dhcp4-server", "bind9", "dnsmasq", "vsftpd", "proftpd-basic", "pure-ftpd", "slapd", "dovecot-imapd", "dovecot-pop3d", "nfs-kernel-server", "rpcbind", "cups", "cups-daemon", "samba", "snmpd", "squid", "apache2", "nginx", "lighttpd", "xserver-xorg-core"}
	// unneededUnits are the units of those packages that must not be enabled.
	unneededUnits = []string{"telnet.socket", "inetd.service", "xinetd.service", "tftpd-hpa.service", "atftpd.service", "atftpd.socket", "ypserv.service", "ypbind.service", "nis.service", "rsh.socket", "rlogin.socket", "avahi-daemon.service", "avahi-daemon.socket", "cups.service", "cups.socket", "cups.path", "cups-browsed.service", "rpcbind.service", "rpcbind.socket", "nfs-server.service", "isc-dhcp-server.service", "named.service", "bind9.service", "dnsmasq.service", "vsftpd.service", "slapd.service", "dovecot.service", "smbd.service", "nmbd.service", "snmpd.service", "squid.service", "apache2.service", "nginx.service", "autofs.service"}
)

func packagesAbsent(names []string) checkFunc {
	return func(a *auditor) (harden.Result, error) {
		if !a.hasDpkg {
			return harden.Skipped("no dpkg database (/var/lib/dpkg/status)"), nil
		}
		var items []string
		for _, n := range names {
			if p, ok := a.pkgs[n]; ok {
				items = append(items, p.Name+" "+p.Version)
			}
		}
		if len(items) == 0 {
			return harden.Passed(""), nil
		}
		return harden.Failed("installed", items, []evidence.Location{{Path: "/var/lib/dpkg/status"}}), nil
	}
}

func checkEnabledUnits(a *auditor) (harden.Result, error) {
	var items []string
	var locs []evidence.Location
	for _, u := range unneededUnits {
		if p, ok := a.units[u]; ok {
			items = append(items, u)
			locs = append(locs, evidence.Location{Path: p})
		}
	}
	if len(items) == 0 {
		return harden.Passed(""), nil
	}
	return harden.Failed("enabled", items, locs), nil
}

// fileMode is a required ownership and maximum mode; a file that is absent passes.
type fileMode struct {
	path string
	max  int64
	uids []int
	gids []int
}

// checkModes fails for every file whose mode has bits outside max or whose owner or group is not
// among the allowed ones. The shadow group's id is read from /etc/group.
func (a *auditor) checkModes(files []fileMode) (harden.Result, error) {
	var items []string
	var locs []evidence.Location
	for _, f := range files {
		n, r, err := a.t.lookup(f.path)
		if err != nil {
			return harden.Result{}, err
		}
		if n == nil {
			continue
		}
		var why []string
		if n.mode&^f.max&0o7777 != 0 {
			why = append(why, fmt.Sprintf("mode %04o (at most %04o)", n.mode, f.max))
		}
		if !slices.Contains(f.uids, n.uid) {
			why = append(why, fmt.Sprintf("owner %d", n.uid))
		}
		if !slices.Contains(f.gids, n.gid) {
			why = append(why, fmt.Sprintf("group %d", n.gid))
		}
		if len(why) > 0 {
			items = append(items, "/"+f.path+" "+strings.Join(why, ", "))
			locs = append(locs, evidence.Location{Path: "/" + r})
		}
	}
	if len(items) == 0 {
		return harden.Passed(""), nil
	}
	return harden.Failed("loose permissions", items, locs), nil
}

// groupID returns a group's id from /etc/group, -1 when it has none.
func (a *auditor) groupID(name string) (int, error) {
	data, ok, err := a.t.readFile("etc/group")
	if err != nil || !ok {
		return -1, err
	}
	for _, g := range readColon(data) {
		if len(g.fields) >= 3 && g.fields[0] == name {
			if id, err := strconv.Atoi(g.fields[2]); err == nil {
				return id, nil
			}
		}
	}
	return -1, nil
}

func checkAccountFilePerms(a *auditor) (harden.Result, error) {
	shadow, err := a.groupID("shadow")
	if err != nil {
		return harden.Result{}, err
	}
	root := []int{0}
	var files []fileMode
	for _, p := range []string{"etc/passwd", "etc/passwd-", "etc/group", "etc/group-"} {
		files = append(files, fileMode{path: p, max: 0o644, uids: root, gids: root})
	}
	for _, p := range []string{"etc/shadow", "etc/shadow-", "etc/gshadow", "etc/gshadow-"} {
		files = append(files, fileMode{path: p, max: 0o640, uids: root, gids: []int{0, shadow}})
	}
	return a.checkModes(files)
}

func checkCronPerms(a *auditor) (harden.Result, error) {
	root := []int{0}
	files := []fileMode{{path: "etc/crontab", max: 0o600, uids: root, gids: root}}
	for _, d := range []string{"etc/cron.hourly", "etc/cron.daily", "etc/cron.weekly", "etc/cron.monthly", "etc/cron.d"} {
		files = append(files, fileMode{path: d, max: 0o700, uids: root, gids: root})
	}
	return a.checkModes(files)
}

func checkUID0(a *auditor) (harden.Result, error) {
	data, ok, err := a.t.readFile("etc/passwd")
	if err != nil || !ok {
		return harden.Skipped("no /etc/passwd"), err
	}
	var items []string
	var locs []evidence.Location
	for _, acc := range readColon(data) {
		if len(acc.fields) >= 3 && acc.fields[0] != "root" && strings.TrimSpace(acc.fields[2]) == "0" {
			items = append(items, acc.fields[0])
			locs = append(locs, evidence.Location{Path: "/etc/passwd", Line: acc.line})
		}
	}
	if len(items) == 0 {
		return harden.Passed(""), nil
	}
	return harden.Failed("UID 0", items, locs), nil
}

func checkEmptyPassword(a *auditor) (harden.Result, error) {
	var items []string
	var locs []evidence.Location
	for _, f := range []string{"etc/passwd", "etc/shadow"} {
		data, ok, err := a.t.readFile(f)
		if err != nil {
			return harden.Result{}, err
		}
		if !ok {
			continue
		}
		for _, acc := range readColon(data) {
			if len(acc.fields) >= 2 && acc.fields[1] == "" {
				items = append(items, acc.fields[0]+" in /"+f)
				locs = append(locs, evidence.Location{Path: "/" + f, Line: acc.line})
			}
		}
	}
	if len(items) == 0 {
		return harden.Passed(""), nil
	}
	return harden.Failed("empty password", items, locs), nil
}

// mountCheck requires a mount of its own for target, from fstab or an enabled mount unit, whose
// options include nodev, nosuid and noexec.
func mountCheck(target, unit string) checkFunc {
	return func(a *auditor) (harden.Result, error) {
		data, _, err := a.t.readFile("etc/fstab")
		if err != nil {
			return harden.Result{}, err
		}
		var m *mount
		for _, e := range readFstab(data) {
			if e.target == target {
				e := e
				m = &e
			}
		}
		loc := evidence.Location{Path: "/etc/fstab"}
		if m == nil && unit != "" {
			if p, ok := a.units[unit]; ok {
				opts, err := a.unitOptions(unit)
				if err != nil {
					return harden.Result{}, err
				}
				m, loc = &mount{target: target, options: opts}, evidence.Location{Path: p}
			}
		}
		if m == nil {
			return harden.Failed(target+" has no mount of its own in /etc/fstab, so its options cannot be set", nil, []evidence.Location{loc}), nil
		}
		if m.line > 0 {
			loc.Line = m.line
		}
		var missing []string
		for _, o := range []string{"nodev", "nosuid", "noexec"} {
			if !slices.Contains(m.options, o) {
				missing = append(missing, o)
			}
		}
		if len(missing) == 0 {
			return harden.Passed(""), nil
		}
		return harden.Failed(target+" lacks", missing, []evidence.Location{loc}), nil
	}
}

// unitOptions reads Options= of a mount unit, from /etc/systemd/system or the vendor directories.
func (a *auditor) unitOptions(unit string) ([]string, error) {
	for _, d := range []string{"etc/systemd/system", "usr/lib/systemd/system", "lib/systemd/system", "usr/share/systemd"} {
		data, ok, err := a.t.readFile(path.Join(d, unit))
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "Options="); ok {
				return strings.Split(strings.TrimSpace(v), ","), nil
			}
		}
		return nil, nil
	}
	return nil, nil
}

func (a *auditor) installed(names ...string) []string {
	var out []string
	for _, n := range names {
		if _, ok := a.pkgs[n]; ok {
			out = append(out, n)
		}
	}
	return out
}

func checkAuditd(a *auditor) (harden.Result, error) {
	if !a.hasDpkg {
		return harden.Skipped("no dpkg database (/var/lib/dpkg/status)"), nil
	}
	if len(a.installed("auditd")) == 0 {
		return harden.Failed("auditd is not installed", nil, []evidence.Location{{Path: "/var/lib/dpkg/status"}}), nil
	}
	if _, ok := a.units["auditd.service"]; !ok {
		return harden.Failed("auditd.service is not enabled", nil, []evidence.Location{{Path: "/etc/systemd/system/multi-user.target.wants"}}), nil
	}
	return harden.Passed(""), nil
}

func checkTimeSync(a *auditor) (harden.Result, error) {
	if !a.hasDpkg {
		return harden.Skipped("no dpkg database (/var/lib/dpkg/status)"), nil
	}
	if got := a.installed("chrony", "ntp", "ntpsec", "openntpd"); len(got) > 0 {
		return harden.Passed(strings.Join(got, ", ") + " installed"), nil
	}
	if _, ok := a.units["systemd-timesyncd.service"]; ok {
		return harden.Passed("systemd-timesyncd enabled"), nil
	}
	return harden.Failed("no chrony, ntp or enabled systemd-timesyncd", nil, []evidence.Location{{Path: "/var/lib/dpkg/status"}}), nil
}

func checkAppArmor(a *auditor) (harden.Result, error) {
	if !a.hasDpkg {
		return harden.Skipped("no dpkg database (/var/lib/dpkg/status)"), nil
	}
	if len(a.installed("apparmor")) == 0 {
		return harden.Failed("apparmor is not installed", nil, []evidence.Location{{Path: "/var/lib/dpkg/status"}}), nil
	}
	var items []string
	var locs []evidence.Location
	for _, f := range []string{"etc/default/grub", "boot/grub/grub.cfg"} {
		data, _, err := a.t.readFile(f)
		if err != nil {
			return harden.Result{}, err
		}
		for i, line := range strings.Split(string(data), "\n") {
			for _, w := range strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == '\t' || r == '"' || r == '\'' }) {
				if w == "apparmor=0" || (strings.HasPrefix(w, "security=") && w != "security=apparmor" && w != "security=") {
					items = append(items, w+" in /"+f)
					locs = append(locs, evidence.Location{Path: "/" + f, Line: i + 1})
				}
			}
		}
	}
	if len(items) == 0 {
		return harden.Passed(""), nil
	}
	return harden.Failed("disabled on the kernel command line", items, locs), nil
}

func checkAutoUpdates(a *auditor) (harden.Result, error) {
	if !a.hasDpkg {
		return harden.Skipped("no dpkg database (/var/lib/dpkg/status)"), nil
	}
	if len(a.installed("unattended-upgrades")) == 0 {
		return harden.Failed("unattended-upgrades is not installed", nil, []evidence.Location{{Path: "/var/lib/dpkg/status"}}), nil
	}
	// apt reads apt.conf.d in name order; a later file overrides an earlier one.
	names, err := a.t.list("etc/apt/apt.conf.d")
	if err != nil {
		return harden.Result{}, err
	}
	vals := map[string]string{}
	for _, n := range names {
		data, _, err := a.t.readFile(path.Join("etc/apt/apt.conf.d", n))
		if err != nil {
			return harden.Result{}, err
		}
		for _, line := range strings.Split(string(data), "\n") {
			line = strings.TrimSpace(line)
			for _, key := range []string{"APT::Periodic::Update-Package-Lists", "APT::Periodic::Unattended-Upgrade"} {
				if rest, ok := strings.CutPrefix(line, key); ok {
					rest = strings.TrimSpace(rest)
					if rest != "" && (rest[0] == ' ' || rest[0] == '"') {
						vals[key] = strings.Trim(strings.TrimSuffix(strings.TrimSpace(rest), ";"), "\" ")
					}
				}
			}
		}
	}
	var missing []string
	for _, key := range []string{"APT::Periodic::Update-Package-Lists", "APT::Periodic::Unattended-Upgrade"} {
		if v := vals[key]; v == "" || v == "0" {
			missing = append(missing, key)
		}
	}
	if len(missing) == 0 {
		return harden.Passed(""), nil
	}
	return harden.Failed("not enabled", missing, []evidence.Location{{Path: "/etc/apt/apt.conf.d"}}), nil
}

func checkAgentsMissing(a *auditor) (harden.Result, error) {
	if a.policy == nil || len(a.policy.Agents) == 0 {
		return harden.Skipped("no agents policy"), nil
	}
	if !a.hasDpkg {
		return harden.Failed("no dpkg database: no agent can be installed", nil, nil), nil
	}
	var items []string
	for _, ag := range a.policy.Agents {
		if _, ok := a.pkgs[ag.Name]; !ok {
			item := ag.Name
			if ag.Why != "" {
				item += " (" + ag.Why + ")"
			}
			items = append(items, item)
		}
	}
	if len(items) == 0 {
		return harden.Passed(""), nil
	}
	return harden.Failed("missing", items, []evidence.Location{{Path: "/var/lib/dpkg/status"}}), nil
}

func checkAgentsVersion(a *auditor) (harden.Result, error) {
	if a.policy == nil || len(a.policy.Agents) == 0 {
		return harden.Skipped("no agents policy"), nil
	}
	var items []string
	for _, ag := range a.policy.Agents {
		p, ok := a.pkgs[ag.Name]
		if !ok {
			continue
		}
		r, err := catalog.ParseRange(ag.Versions)
		if err != nil {
			return harden.Result{}, err
		}
		in, err := r.Contains("Debian", p.Name, p.Version)
		if err != nil {
			return harden.Result{}, fmt.Errorf("agent %s: %w", p.Name, err)
		}
		if !in {
			items = append(items, fmt.Sprintf("%s %s (approved %s)", p.Name, p.Version, r))
		}
	}
	if len(items) == 0 {
		return harden.Passed(""), nil
	}
	return harden.Failed("shadow version(s)", items, []evidence.Location{{Path: "/var/lib/dpkg/status"}}), nil
}

func checkForbidden(a *auditor) (harden.Result, error) {
	if a.policy == nil || len(a.policy.Forbidden) == 0 {
		return harden.Skipped("no forbidden packages in the policy"), nil
	}
	var items []string
	for _, f := range a.policy.Forbidden {
		if p, ok := a.pkgs[f.Name]; ok {
			item := p.Name + " " + p.Version
			if f.Why != "" {
				item += " (" + f.Why + ")"
			}
			items = append(items, item)
		}
	}
	if len(items) == 0 {
		return harden.Passed(""), nil
	}
	return harden.Failed("installed", items, []evidence.Location{{Path: "/var/lib/dpkg/status"}}), nil
}
