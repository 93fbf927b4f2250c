package host

import (
	"archive/tar"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/harden"
)

// leftover recognises one kind of leftover by path and entry; names are physical paths (no link
// is followed: a leftover is a file that is there, wherever links point).
type leftover func(p string, n *node, t *Tree) bool

func isReg(n *node) bool { return n.typ == tar.TypeReg }

// leftoverCheck fails with every path that matches.
func leftoverCheck(match leftover) checkFunc {
	return func(a *auditor) (harden.Result, error) {
		var paths []string
		for p, n := range a.t.nodes {
			if p != "" && match(p, n, a.t) {
				paths = append(paths, p)
			}
		}
		if len(paths) == 0 {
			return harden.Passed(""), nil
		}
		sort.Strings(paths)
		items := make([]string, len(paths))
		locs := make([]evidence.Location, len(paths))
		for i, p := range paths {
			items[i] = "/" + p
			locs[i] = evidence.Location{Path: "/" + p}
		}
		return harden.Failed(fmt.Sprintf("%d file(s)", len(paths)), items, locs), nil
	}
}

func hostKeys(p string, n *node, _ *Tree) bool {
	dir, base := path.Split(p)
	return dir == "etc/ssh/" && strings.HasPrefix(base, "ssh_host_") && isReg(n)
}

func authorizedKeys(p string, n *node, _ *Tree) bool {
	base := path.Base(p)
	return (base == "authorized_keys" || base == "authorized_keys2") && isReg(n)
}

// historyFiles are the history files of shells and REPLs.
var historyFiles = map[string]bool{
	".bash_history": true, ".zsh_history": true, ".sh_history": true, ".ash_history": true, ".history": true,
	".python_history": true, ".mysql_history": true, ".psql_history": true, ".sqlite_history": true,
	".node_repl_history": true, ".rediscli_history": true, ".lesshst": true, ".wget-hsts": true,
}

func histories(p string, n *node, _ *Tree) bool {
	return historyFiles[path.Base(p)] && isReg(n) && n.size > 0
}

// machineID flags a machine ID that is set. "uninitialized" is systemd's marker for an image whose
// first boot is still to come, and passes like an empty file.
func machineID(p string, n *node, _ *Tree) bool {
	if p != "etc/machine-id" && p != "var/lib/dbus/machine-id" {
		return false
	}
	if !isReg(n) || n.size == 0 {
		return false
	}
	return !n.kept || strings.TrimSpace(string(n.data)) != "uninitialized"
}

func cloudInit(p string, n *node, _ *Tree) bool {
	switch {
	case p == "var/lib/cloud/instance", p == "var/log/cloud-init.log", p == "var/log/cloud-init-output.log":
		return true
	case strings.HasPrefix(p, "var/lib/cloud/instances/"), strings.HasPrefix(p, "var/lib/cloud/data/"):
		return isReg(n)
	}
	return false
}

func dhcpLeases(p string, n *node, _ *Tree) bool {
	if !isReg(n) || n.size == 0 {
		return false
	}
	dir, base := path.Split(p)
	switch dir {
	case "var/lib/dhcp/", "var/lib/dhclient/":
		return strings.Contains(base, ".lease")
	case "var/lib/NetworkManager/":
		return strings.HasSuffix(base, ".lease")
	case "run/systemd/netif/leases/", "var/lib/systemd/network/":
		return true
	}
	return false
}

func tmpContents(p string, _ *node, _ *Tree) bool {
	return strings.HasPrefix(p, "tmp/") || strings.HasPrefix(p, "var/tmp/")
}

func aptCaches(p string, n *node, _ *Tree) bool {
	if !isReg(n) {
		return false
	}
	dir, base := path.Split(p)
	switch dir {
	case "var/lib/apt/lists/":
		return base != "lock"
	case "var/cache/apt/":
		return strings.HasSuffix(base, ".bin")
	case "var/cache/apt/archives/":
		return strings.HasSuffix(base, ".deb")
	}
	return false
}

func logs(p string, n *node, t *Tree) bool {
	return strings.HasPrefix(p, "var/log/") && isReg(n) && n.size > 0 && !cloudInit(p, n, t)
}
