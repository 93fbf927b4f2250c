package build

import (
	"archive/tar"
	"bytes"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
)

// statusDir is where distroless images record installed packages, one control file each; syft, grype
// and trivy read it (the control file carries no Status field there, and they treat it as installed).
const statusDir = "var/lib/dpkg/status.d"

// addFile writes generated content at p (parents followed and created) in layer, root-owned, mode 0644.
func (t *tree) addFile(p string, data []byte, layer int) error {
	return t.addNode(p, &node{typ: tar.TypeReg, ino: &inode{data: data, mode: 0o644}, layer: layer})
}

// writeStatus records every package in the distroless layout.
func (t *tree) writeStatus(pkgs []*unpacked, layer int) error {
	for _, u := range pkgs {
		if err := t.addFile(statusDir+"/"+u.name, u.control, layer); err != nil {
			return fmt.Errorf("writing status of %s: %w", u.name, err)
		}
		if u.md5sums != nil {
			if err := t.addFile(statusDir+"/"+u.name+".md5sums", u.md5sums, layer); err != nil {
				return fmt.Errorf("writing md5sums of %s: %w", u.name, err)
			}
		}
	}
	return nil
}

// builtinUsers and builtinGroups are always present, as in distroless.
func builtinUsers() []User {
	return []User{
		{Name: "root", UID: 0, GID: 0, Home: "/root", Shell: "/sbin/nologin", Gecos: "root"},
		{Name: "nobody", UID: 65534, GID: 65534, Home: "/nonexistent", Shell: "/sbin/nologin", Gecos: "nobody"},
	}
}

func builtinGroups() []Group {
	return []Group{{Name: "root", GID: 0}, {Name: "nobody", GID: 65534}}
}

// validAccountField rejects what would corrupt a colon-separated line.
func validAccountField(s string) bool {
	return !strings.ContainsAny(s, ":\n\r")
}

func validName(s string) bool {
	return s != "" && validAccountField(s) && !strings.ContainsAny(s, ", \t/")
}

// accountTables returns the complete user and group lists, or ErrAccounts for invalid or duplicate
// entries.
func accountTables(a Accounts) ([]User, []Group, error) {
	users := builtinUsers()
	groups := builtinGroups()
	userNames := map[string]bool{}
	uids := map[uint32]string{}
	for _, u := range users {
		userNames[u.Name], uids[u.UID] = true, u.Name
	}
	for _, u := range a.Users {
		if !validName(u.Name) {
			return nil, nil, fmt.Errorf("%w: user name %q", ErrAccounts, u.Name)
		}
		if userNames[u.Name] {
			return nil, nil, fmt.Errorf("%w: user %s defined twice", ErrAccounts, u.Name)
		}
		if other, ok := uids[u.UID]; ok {
			return nil, nil, fmt.Errorf("%w: user %s has uid %d, already used by %s", ErrAccounts, u.Name, u.UID, other)
		}
		userNames[u.Name], uids[u.UID] = true, u.Name
		if u.Home == "" {
			u.Home = "/home/" + u.Name
		}
		if u.Shell == "" {
			u.Shell = "/sbin/nologin"
		}
		if u.Gecos == "" {
			u.Gecos = u.Name
		}
		if !strings.HasPrefix(u.Home, "/") || !validAccountField(u.Home) || !validAccountField(u.Shell) || !validAccountField(u.Gecos) {
			return nil, nil, fmt.Errorf("%w: user %s: home must be absolute, and home, shell and gecos free of ':' and newlines", ErrAccounts, u.Name)
		}
		users = append(users, u)
	}
	groupNames := map[string]bool{}
	gids := map[uint32]string{}
	for _, g := range groups {
		groupNames[g.Name], gids[g.GID] = true, g.Name
	}
	for _, g := range a.Groups {
		if !validName(g.Name) {
			return nil, nil, fmt.Errorf("%w: group name %q", ErrAccounts, g.Name)
		}
		if groupNames[g.Name] {
			return nil, nil, fmt.Errorf("%w: group %s defined twice", ErrAccounts, g.Name)
		}
		if other, ok := gids[g.GID]; ok {
			return nil, nil, fmt.Errorf("%w: group %s has gid %d, already used by %s", ErrAccounts, g.Name, g.GID, other)
		}
		for _, m := range g.Members {
			if !validName(m) {
				return nil, nil, fmt.Errorf("%w: group %s: member name %q", ErrAccounts, g.Name, m)
			}
		}
		groupNames[g.Name], gids[g.GID] = true, g.Name
		groups = append(groups, g)
	}
	return users, groups, nil
}

// writeAccounts writes /etc/passwd and /etc/group and creates the home directories, owned by their
// users with mode 0700, unless they exist already.
func (t *tree) writeAccounts(users []User, groups []Group, layer int) error {
	var passwd, group bytes.Buffer
	for _, u := range users {
		fmt.Fprintf(&passwd, "%s:x:%d:%d:%s:%s:%s\n", u.Name, u.UID, u.GID, u.Gecos, u.Home, u.Shell)
	}
	for _, g := range groups {
		fmt.Fprintf(&group, "%s:x:%d:%s\n", g.Name, g.GID, strings.Join(g.Members, ","))
	}
	if err := t.addFile("etc/passwd", passwd.Bytes(), layer); err != nil {
		return fmt.Errorf("writing /etc/passwd: %w", err)
	}
	if err := t.addFile("etc/group", group.Bytes(), layer); err != nil {
		return fmt.Errorf("writing /etc/group: %w", err)
	}
	for _, u := range users {
		if u.Home == "/nonexistent" {
			continue
		}
		home := cleanAbs(u.Home)
		if home == "" || t.exists(home) {
			continue
		}
		m := dirMeta{mode: 0o700, uid: int(u.UID), gid: int(u.GID)}
		if err := t.addDir(home, m, layer, true); err != nil {
			return fmt.Errorf("creating home %s of %s: %w", u.Home, u.Name, err)
		}
	}
	return nil
}

// runAs turns Accounts.RunAs into the numeric "uid:gid" the image config carries. Numeric users are what
// Kubernetes' runAsNonRoot can verify without reading /etc/passwd, and what every runtime understands.
func runAs(s string, users []User) (string, error) {
	if s == "" {
		return "", nil
	}
	for _, u := range users {
		if u.Name == s {
			return fmt.Sprintf("%d:%d", u.UID, u.GID), nil
		}
	}
	us, gs, hasGID := strings.Cut(s, ":")
	uid, err := strconv.ParseUint(us, 10, 32)
	if err != nil {
		return "", fmt.Errorf("%w: run-as %q is neither a known user nor a numeric uid[:gid]", ErrAccounts, s)
	}
	if hasGID {
		if _, err := strconv.ParseUint(gs, 10, 32); err != nil {
			return "", fmt.Errorf("%w: run-as %q has a non-numeric gid", ErrAccounts, s)
		}
		return s, nil
	}
	for _, u := range users {
		if uint64(u.UID) == uid {
			return fmt.Sprintf("%d:%d", u.UID, u.GID), nil
		}
	}
	return us, nil
}

// writeTmp makes /tmp a root-owned directory with mode 1777.
func (t *tree) writeTmp(layer int) error {
	if err := t.addDir("tmp", dirMeta{mode: 0o1777}, layer, true); err != nil {
		return fmt.Errorf("creating /tmp: %w", err)
	}
	return nil
}

// writeOSRelease writes /etc/os-release from r when neither it nor /usr/lib/os-release exists.
func (t *tree) writeOSRelease(r OSRelease, layer int) error {
	if r.ID == "" || t.exists("etc/os-release") || t.exists("usr/lib/os-release") {
		return nil
	}
	name := r.Name
	if name == "" {
		name = r.ID
	}
	pretty := name
	if r.VersionID != "" {
		pretty += " " + r.VersionID
	}
	if r.VersionCodename != "" {
		pretty += " (" + r.VersionCodename + ")"
	}
	var b bytes.Buffer
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%s=%s\n", k, osReleaseQuote(v))
		}
	}
	line("PRETTY_NAME", pretty)
	line("NAME", name)
	line("ID", r.ID)
	line("VERSION_ID", r.VersionID)
	line("VERSION_CODENAME", r.VersionCodename)
	if err := t.addFile("etc/os-release", b.Bytes(), layer); err != nil {
		return fmt.Errorf("writing /etc/os-release: %w", err)
	}
	return nil
}

// osReleaseQuote quotes a value as os-release(5) requires: double quotes, with \, ", $ and ` escaped.
func osReleaseQuote(v string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, c := range strings.ReplaceAll(v, "\n", " ") {
		if c == '\\' || c == '"' || c == '$' || c == '`' {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	b.WriteByte('"')
	return b.String()
}

// caBundle is the file update-ca-certificates writes and SSL_CERT_FILE points at.
const caBundle = "etc/ssl/certs/ca-certificates.crt"

// writeCABundle does what update-ca-certificates does by default: every certificate under
// /usr/share/ca-certificates (all of them are enabled by the default ca-certificates.conf), in sorted
// order, then the local ones under /usr/local/share/ca-certificates, each ending in a newline.
func (t *tree) writeCABundle(layer int) error {
	var system, local []string
	for p, n := range t.nodes {
		if n.typ != tar.TypeReg || !strings.HasSuffix(p, ".crt") {
			continue
		}
		switch {
		case strings.HasPrefix(p, "usr/share/ca-certificates/"):
			system = append(system, p)
		case strings.HasPrefix(p, "usr/local/share/ca-certificates/"):
			local = append(local, p)
		}
	}
	sort.Strings(system)
	sort.Strings(local)
	var b bytes.Buffer
	for _, p := range append(system, local...) {
		ino := t.nodes[p].ino
		if ino.noData {
			return fmt.Errorf("bundling certificate %s: %w", p, ErrBaseContent)
		}
		b.Write(ino.data)
		if len(ino.data) > 0 && ino.data[len(ino.data)-1] != '\n' {
			b.WriteByte('\n')
		}
	}
	if err := t.addFile(caBundle, b.Bytes(), layer); err != nil {
		return fmt.Errorf("writing %s: %w", path.Join("/", caBundle), err)
	}
	return nil
}
