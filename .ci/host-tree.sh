#!/usr/bin/env bash
# Makes the two Debian 11 (bullseye) root file systems the host audit accuracy test and bench/host
# read: "weak" (deliberately weakened in known ways) and "hardened". Built once with mmdebstrap from
# the mirror this machine's own apt sources name (suite bullseye at the same archive), and cached in
# $INGOT_HOST_TREES (default $HOME/.cache/ingot-ci/host). No mirror host name is written here.
# Usage: .ci/host-tree.sh        prints the directory holding weak/ and hardened/
set -euo pipefail

out="${INGOT_HOST_TREES:-$HOME/.cache/ingot-ci/host}"
stamp="$out/.done-v1"
if [ -f "$stamp" ]; then
  echo "$out"
  exit 0
fi
mkdir -p "$out"

# The first "deb" URI of the host's sources: deb822 (.sources) or one-line (sources.list) format.
uri=""
for f in /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] || continue
  uri=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' "$f")
  [ -n "$uri" ] && break
done
if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
  uri=$(awk '$1 == "deb" && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list)
fi
if [ -z "$uri" ]; then
  echo "host-tree.sh: no Debian mirror in this machine's apt sources" >&2
  exit 1
fi

common=(--variant=minbase --include=systemd-sysv,openssh-server,cron,procps,passwd,login)

build() { # name, extra mmdebstrap options...
  local name=$1; shift
  local tmp="$out/.$name.tmp"
  rm -rf "$tmp"
  mmdebstrap --quiet --mode=root "${common[@]}" "$@" bullseye "$tmp" "deb $uri bullseye main" >&2
  rm -rf "${out:?}/$name"
  mv "$tmp" "$out/$name"
}

# weak: legacy clients and xinetd installed, sshd and sysctl weakened, loose shadow, a second UID 0,
# an empty password, no auditd, AppArmor, time sync or automatic updates, no fstab options, and the
# leftovers of a build (host keys, authorized_keys, history, machine-id, lease, /tmp, apt lists, logs).
build weak --include=telnet,rsh-client,xinetd
w="$out/weak"
cat >>"$w/etc/ssh/sshd_config" <<'CFG'
PermitRootLogin yes
PasswordAuthentication yes
PermitEmptyPasswords yes
Ciphers aes128-ctr,aes128-cbc
CFG
cat >"$w/etc/sysctl.d/60-weak.conf" <<'CFG'
net.ipv4.ip_forward = 1
kernel.randomize_va_space = 0
net.ipv4.conf.all.accept_redirects = 1
net.ipv4.conf.all.send_redirects = 1
net.ipv4.conf.all.accept_source_route = 1
CFG
chmod 0644 "$w/etc/shadow"
echo 'toor:x:0:0:root:/root:/bin/bash' >>"$w/etc/passwd"
echo 'toor::19000:0:99999:7:::' >>"$w/etc/shadow"
mkdir -p "$w/root/.ssh" "$w/var/lib/dhcp"
echo 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTheAuditFixtureOnly build@ci' >"$w/root/.ssh/authorized_keys"
echo 'apt-get install -y telnet' >"$w/root/.bash_history"
echo 0123456789abcdef0123456789abcdef >"$w/etc/machine-id"
echo 'lease { interface "eth0"; fixed-address 10.0.0.5; }' >"$w/var/lib/dhcp/dhclient.eth0.leases"
echo debris >"$w/tmp/build.sh"
: >"$w/etc/fstab"

# hardened: the same base with the hardening the rules ask for, set through drop-ins (sshd_config.d
# read before Debian's own X11Forwarding yes, sysctl.d), and the leftovers removed.
build hardened --include=auditd,apparmor,chrony,unattended-upgrades
h="$out/hardened"
cat >"$h/etc/ssh/sshd_config.d/50-ingot.conf" <<'CFG'
PermitRootLogin no
PasswordAuthentication no
PermitEmptyPasswords no
X11Forwarding no
MaxAuthTries 4
CFG
cat >"$h/etc/sysctl.d/60-ingot.conf" <<'CFG'
net.ipv4.ip_forward = 0
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
CFG
cat >"$h/etc/fstab" <<'CFG'
tmpfs /tmp tmpfs defaults,rw,nosuid,nodev,noexec,relatime 0 0
tmpfs /dev/shm tmpfs defaults,rw,nosuid,nodev,noexec,relatime 0 0
tmpfs /var/tmp tmpfs defaults,rw,nosuid,nodev,noexec,relatime 0 0
CFG
cat >"$h/etc/apt/apt.conf.d/20auto-upgrades" <<'CFG'
APT::Periodic::Update-Package-Lists "1";
APT::Periodic::Unattended-Upgrade "1";
CFG
chmod 0600 "$h/etc/crontab"
chmod 0700 "$h"/etc/cron.{hourly,daily,weekly,monthly,d}
rm -f "$h"/etc/ssh/ssh_host_*
: >"$h/etc/machine-id"
rm -f "$h/var/lib/dbus/machine-id"
rm -rf "$h"/var/lib/apt/lists/* "$h"/var/cache/apt/*.bin "$h"/var/cache/apt/archives/*.deb "$h"/tmp/* "$h"/var/tmp/*
find "$h/var/log" -type f -exec truncate -s 0 {} +

touch "$stamp"
echo "$out"
