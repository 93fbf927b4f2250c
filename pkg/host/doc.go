// Package host audits the root file system of a virtual machine image (a directory, a tarball or a
// raw or qcow2 disk) offline: hardening rules with CIS Debian Linux 12 Benchmark references (sshd,
// sysctl, legacy services, permissions, accounts, mount options, audit, time sync, AppArmor, updates),
// the leftovers a golden VM image must not ship (host keys, histories, machine-id, cloud-init state,
// leases, caches, logs) and an agents policy (required packages at approved versions, forbidden ones).
// The tree is also presented as a one-layer image, so the inventory, vulnerability and secrets stages
// run on it unchanged.
package host
