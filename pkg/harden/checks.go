package harden

import (
	"archive/tar"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ingot-build/ingot/pkg/evidence"
)

// Annotation (and label) keys of the OCI image spec that name the base image.
const (
	AnnotationBaseName   = "org.opencontainers.image.base.name"
	AnnotationBaseDigest = "org.opencontainers.image.base.digest"
)

// Result is what one check found, of an image (this package) or of a host (pkg/host). Status is
// failed, passed or skipped; Reason notes why a rule passed or was skipped when that is not obvious;
// Found summarises a failure in one line.
type Result struct {
	Status    string
	Reason    string
	Found     string
	Locations []evidence.Location
}

// Passed is a passing result, with why when it is not obvious.
func Passed(reason string) Result { return Result{Status: evidence.StatusPassed, Reason: reason} }

// Skipped is a check that could not run, and why.
func Skipped(reason string) Result { return Result{Status: evidence.StatusSkipped, Reason: reason} }

// Failed builds a failing result; the summary lists at most a few items so tables stay readable,
// while Locations keep them all.
func Failed(what string, items []string, locs []evidence.Location) Result {
	found := what
	if len(items) > 0 {
		const show = 5
		list := items
		if len(list) > show {
			list = list[:show]
		}
		found += ": " + strings.Join(list, ", ")
		if len(items) > show {
			found += fmt.Sprintf(" and %d more", len(items)-show)
		}
	}
	return Result{Status: evidence.StatusFailed, Found: found, Locations: locs}
}

// target is everything the checks read, gathered once.
type target struct {
	fs       *imageFS
	config   *v1.ConfigFile
	manifest *v1.Manifest
	// scan holds what the one pass over every path found, by rule ID.
	scan map[string][]found
}

// found is one offending path.
type found struct {
	path string // relative physical path
	what string // how to list it in the summary
	n    *node
}

func (t *target) locations(fs []found) ([]evidence.Location, []string) {
	locs := make([]evidence.Location, len(fs))
	items := make([]string, len(fs))
	for i, f := range fs {
		locs[i] = evidence.Location{Path: "/" + f.path, Layer: t.fs.layer(f.n)}
		items[i] = f.what
	}
	return locs, items
}

// configLocation is where in the image config a finding was made.
func configLocation(field string) evidence.Location {
	return evidence.Location{Path: "config:" + field}
}

// checkRootUser fails when the config's User is empty (runtimes default to root), root, uid 0, or a
// name that /etc/passwd maps to uid 0 or does not have (then nothing can verify it is not root).
func checkRootUser(t *target) Result {
	user := strings.TrimSpace(t.config.Config.User)
	loc := []evidence.Location{configLocation("User")}
	name, _, _ := strings.Cut(user, ":")
	switch name {
	case "":
		return Failed("no user is set, so the process runs as root", nil, loc)
	case "root":
		return Failed("user is root", nil, loc)
	}
	if uid, err := strconv.ParseUint(name, 10, 32); err == nil {
		if uid == 0 {
			return Failed(fmt.Sprintf("user %q is uid 0", user), nil, loc)
		}
		return Passed(fmt.Sprintf("runs as uid %d", uid))
	}
	data, passwd, ok := t.fs.file("etc/passwd")
	if !ok {
		return Failed(fmt.Sprintf("user %q is a name but the image has no /etc/passwd, so nothing can tell it is not root", name), nil, loc)
	}
	for _, a := range parseAccounts(data, passwdFields) {
		if a.Name != name {
			continue
		}
		if a.ID == 0 {
			return Failed(fmt.Sprintf("user %q has uid 0 in /etc/passwd", name), nil,
				append(loc, evidence.Location{Path: "/" + passwd, Line: a.Line, Layer: t.fs.layer(t.fs.nodes[passwd])}))
		}
		if a.ID < 0 {
			return Failed(fmt.Sprintf("user %q has no numeric uid in /etc/passwd", name), nil,
				append(loc, evidence.Location{Path: "/" + passwd, Line: a.Line, Layer: t.fs.layer(t.fs.nodes[passwd])}))
		}
		return Passed(fmt.Sprintf("runs as %s (uid %d)", name, a.ID))
	}
	return Failed(fmt.Sprintf("user %q is not in /etc/passwd, so nothing can tell it is not root", name), nil, loc)
}

// binDirs are where shells and package managers are looked for, in PATH order.
func binDirs() []string {
	return []string{"usr/local/sbin", "usr/local/bin", "usr/sbin", "usr/bin", "sbin", "bin"}
}

func isShell(name string) bool {
	switch name {
	case "sh", "bash", "rbash", "dash", "ash", "zsh", "ksh", "ksh93", "mksh", "lksh", "pdksh", "csh", "tcsh",
		"fish", "yash", "posh", "busybox", "toybox":
		return true
	}
	return false
}

// pipName matches pip, pip3 and versioned pips such as pip3.11.
var pipName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^pip[0-9.]*$`) })

func isPackageManager(name string) bool {
	switch name {
	case "apt", "apt-get", "aptitude", "dpkg", "apk", "yum", "dnf", "tdnf", "microdnf", "rpm", "zypper":
		return true
	}
	return pipName().MatchString(name)
}

// children returns the paths directly below dir, in order.
func (f *imageFS) children(dir string) []string {
	prefix := dir + "/"
	var out []string
	for i := sort.SearchStrings(f.paths, prefix); i < len(f.paths) && strings.HasPrefix(f.paths[i], prefix); i++ {
		if !strings.Contains(f.paths[i][len(prefix):], "/") {
			out = append(out, f.paths[i])
		}
	}
	return out
}

// executables finds the commands in binDirs whose name matches, following symlinks (so /bin/sh pointing
// at dash is dash, and a dangling link is nothing), and lists each executable file once, with the other
// names it is reached by.
func (t *target) executables(match func(string) bool) []found {
	var out []found
	var aliases [][]string
	seenDir := map[string]bool{}
	seenFile := map[string]int{}
	for _, d := range binDirs() {
		dir, n := t.fs.resolve(d)
		if n == nil || !n.isDir() || seenDir[dir] {
			continue
		}
		seenDir[dir] = true
		for _, c := range t.fs.children(dir) {
			if !match(path.Base(c)) {
				continue
			}
			phys, n := t.fs.resolve(c)
			if n == nil || n.typ != tar.TypeReg || n.mode&0o111 == 0 {
				continue
			}
			i, ok := seenFile[phys]
			if !ok {
				i = len(out)
				seenFile[phys] = i
				out = append(out, found{path: phys, what: "/" + phys, n: n})
				aliases = append(aliases, nil)
			}
			if c != phys {
				aliases[i] = append(aliases[i], "/"+c)
			}
		}
	}
	for i := range out {
		if len(aliases[i]) > 0 {
			out[i].what += " (as " + strings.Join(aliases[i], ", ") + ")"
		}
	}
	return out
}

func checkShell(t *target) Result {
	fs := t.executables(isShell)
	if len(fs) == 0 {
		return Passed("")
	}
	locs, items := t.locations(fs)
	return Failed(fmt.Sprintf("%d shell(s)", len(fs)), items, locs)
}

func checkPackageManager(t *target) Result {
	fs := append(t.executables(isPackageManager), t.scan[RulePackageManager]...)
	if len(fs) == 0 {
		return Passed("")
	}
	locs, items := t.locations(fs)
	return Failed(fmt.Sprintf("%d package manager(s)", len(fs)), items, locs)
}

// pipModule matches the pip package of a Python installation, which "python3 -m pip" runs without any
// pip command on PATH.
var pipModule = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^(usr/|usr/local/|opt/[^/]+/)?lib/python[0-9.]*/(site|dist)-packages/pip$`)
})

// scanPaths makes the one pass over every path of the file system that the setuid, world-writable,
// leftovers and pip-module checks share.
func (t *target) scanPaths() {
	t.scan = map[string][]found{}
	leftoverDirs := map[string]bool{}
	add := func(rule, p, what string, n *node) {
		t.scan[rule] = append(t.scan[rule], found{path: p, what: what, n: n})
	}
	for _, p := range t.fs.paths {
		n := t.fs.nodes[p]
		if n.typ == tar.TypeReg && n.mode&0o6000 != 0 {
			add(RuleSetuid, p, setuidWhat(p, n), n)
		}
		if worldWritable(p, n) {
			add(RuleWorldWritable, p, fmt.Sprintf("/%s (%s)", p, modeString(n)), n)
		}
		if n.isDir() && pipModule().MatchString(p) {
			add(RulePackageManager, p, "/"+p+" (python -m pip)", n)
		}
		if underAny(p, leftoverDirs) {
			continue
		}
		if what, dir := leftover(p, n); what != "" {
			add(RuleLeftovers, p, "/"+p+" ("+what+")", n)
			if dir {
				leftoverDirs[p] = true
			}
		}
	}
}

func setuidWhat(p string, n *node) string {
	var bits []string
	switch {
	case n.mode&0o4000 != 0 && n.uid == 0:
		bits = append(bits, "setuid root")
	case n.mode&0o4000 != 0:
		bits = append(bits, fmt.Sprintf("setuid uid %d", n.uid))
	}
	if n.mode&0o2000 != 0 {
		bits = append(bits, "setgid")
	}
	return "/" + p + " (" + strings.Join(bits, ", ") + ")"
}

func modeString(n *node) string {
	return fmt.Sprintf("%04o", n.mode)
}

// worldWritable reports a regular file writable by others, or a directory writable by others without
// the sticky bit, outside /tmp and /var/tmp.
func worldWritable(p string, n *node) bool {
	if n.mode&0o002 == 0 || under(p, "tmp") || under(p, "var/tmp") {
		return false
	}
	switch n.typ {
	case tar.TypeReg:
		return true
	case tar.TypeDir:
		return n.mode&0o1000 == 0
	}
	return false
}

// under reports whether p is dir or below it.
func under(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, dir+"/")
}

// underAny reports whether a strict ancestor of p is in dirs.
func underAny(p string, dirs map[string]bool) bool {
	if len(dirs) == 0 {
		return false
	}
	for d := parent(p); d != ""; d = parent(d) {
		if dirs[d] {
			return true
		}
	}
	return false
}

// leftover says what build leftover p is, if any, and whether it is a directory reported as a whole
// (nothing below it is listed again).
func leftover(p string, n *node) (what string, wholeDir bool) {
	base := path.Base(p)
	dir := parent(p)
	switch {
	case base == ".git":
		return "version control", n.isDir()
	case base == ".aws" && n.isDir():
		return "cloud credentials", true
	case path.Base(dir) == ".ssh" && strings.HasPrefix(base, "id_") && !strings.HasSuffix(base, ".pub") && n.typ == tar.TypeReg:
		return "SSH private key", false
	case n.typ == tar.TypeReg && isBuildFile(base) && !under(p, "usr/share"):
		return "build file", false
	case n.isDir() && (base == ".npm" || strings.HasSuffix(p, ".cache/pip") || strings.HasSuffix(p, ".cache/yarn") || strings.HasSuffix(p, ".cache/go-build")):
		return "package cache", true
	case n.typ == tar.TypeReg && dir == "var/cache/apt/archives" && strings.HasSuffix(base, ".deb"):
		return "apt cache", false
	case n.typ == tar.TypeReg && dir == "var/cache/apt" && strings.HasSuffix(base, ".bin"):
		return "apt cache", false
	case n.typ == tar.TypeReg && dir == "var/lib/apt/lists" && base != "lock":
		return "apt lists", false
	case n.typ == tar.TypeReg && dir == "var/cache/apk":
		return "apk cache", false
	}
	return "", false
}

// isBuildFile matches Dockerfile, Containerfile, Dockerfile.dev and app.Dockerfile, not Dockerfile.md.
func isBuildFile(base string) bool {
	switch {
	case base == "Dockerfile", base == "Containerfile", strings.HasSuffix(base, ".Dockerfile"), strings.HasSuffix(base, ".dockerfile"):
		return true
	case strings.HasPrefix(base, "Dockerfile."):
		switch ext := strings.TrimPrefix(base, "Dockerfile."); ext {
		case "md", "txt", "rst", "html", "adoc", "5", "gz":
			return false
		default:
			return !strings.Contains(ext, ".")
		}
	}
	return false
}

func (t *target) checkScanned(rule, what string) Result {
	fs := t.scan[rule]
	if len(fs) == 0 {
		return Passed("")
	}
	locs, items := t.locations(fs)
	return Failed(fmt.Sprintf("%d %s", len(fs), what), items, locs)
}

// checkEmptyPassword fails on a passwd or shadow entry whose password field is empty.
func checkEmptyPassword(t *target) Result {
	var locs []evidence.Location
	var items []string
	seen := false
	for _, f := range []struct {
		path   string
		fields int
	}{{"etc/passwd", passwdFields}, {"etc/shadow", shadowFields}} {
		data, phys, ok := t.fs.file(f.path)
		if !ok {
			continue
		}
		seen = true
		for _, a := range parseAccounts(data, f.fields) {
			if a.Password == "" {
				locs = append(locs, evidence.Location{Path: "/" + phys, Line: a.Line, Layer: t.fs.layer(t.fs.nodes[phys])})
				items = append(items, fmt.Sprintf("%s in /%s", a.Name, f.path))
			}
		}
	}
	if !seen {
		return Passed("the image has neither /etc/passwd nor /etc/shadow")
	}
	if len(locs) == 0 {
		return Passed("")
	}
	return Failed(fmt.Sprintf("%d account(s) without a password", len(locs)), items, locs)
}

// checkDuplicateID fails when two users in /etc/passwd share a uid, or two groups in /etc/group a gid.
func checkDuplicateID(t *target) Result {
	var locs []evidence.Location
	var items []string
	seen := false
	for _, f := range []struct{ path, kind string }{{"etc/passwd", "uid"}, {"etc/group", "gid"}} {
		data, phys, ok := t.fs.file(f.path)
		if !ok {
			continue
		}
		seen = true
		first := map[int64]account{}
		for _, a := range parseAccounts(data, groupFields) {
			if a.ID < 0 {
				continue
			}
			prev, dup := first[a.ID]
			if !dup {
				first[a.ID] = a
				continue
			}
			layer := t.fs.layer(t.fs.nodes[phys])
			locs = append(locs, evidence.Location{Path: "/" + phys, Line: a.Line, Layer: layer})
			items = append(items, fmt.Sprintf("%s %d of %s and %s", f.kind, a.ID, prev.Name, a.Name))
		}
	}
	if !seen {
		return Passed("the image has neither /etc/passwd nor /etc/group")
	}
	if len(locs) == 0 {
		return Passed("")
	}
	return Failed(fmt.Sprintf("%d duplicate id(s)", len(locs)), items, locs)
}

// addURL matches an ADD instruction from a URL as the classic builder ("/bin/sh -c #(nop) ADD ...")
// and BuildKit ("ADD ... # buildkit") record it in created_by, with its flags and the URL.
var addURL = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?:^\s*|#\(nop\)\s+)ADD\s+((?:--\S+\s+)*)(https?://\S+)`)
})

// checkAddURL fails on ADD from a URL in the history, unless the instruction pins the content with
// --checksum, which BuildKit verifies before the layer is made.
func checkAddURL(t *target) Result {
	var locs []evidence.Location
	var items []string
	for i, h := range t.config.History {
		if m := addURL().FindStringSubmatch(h.CreatedBy); m != nil && !strings.Contains(m[1], "--checksum=") {
			locs = append(locs, evidence.Location{Path: fmt.Sprintf("history[%d]", i)})
			items = append(items, m[2])
		}
	}
	if len(t.config.History) == 0 {
		return Passed("the image has no history")
	}
	if len(locs) == 0 {
		return Passed("")
	}
	return Failed(fmt.Sprintf("%d ADD from a URL", len(locs)), items, locs)
}

// checkBaseDigest reads the base image's name and digest from the manifest annotations, then the
// config labels. It fails when a name is given without a digest (in the digest key or in the name
// itself) or the digest is malformed, and is skipped when the image names no base at all, since
// nothing then says whether it has one.
func checkBaseDigest(t *target) Result {
	lookup := func(key string) (string, evidence.Location) {
		if t.manifest != nil {
			if v := t.manifest.Annotations[key]; v != "" {
				return v, evidence.Location{Path: "annotation:" + key}
			}
		}
		if v := t.config.Config.Labels[key]; v != "" {
			return v, evidence.Location{Path: "label:" + key}
		}
		return "", evidence.Location{}
	}
	name, nameLoc := lookup(AnnotationBaseName)
	digest, digestLoc := lookup(AnnotationBaseDigest)
	switch {
	case digest != "":
		if _, err := v1.NewHash(digest); err != nil {
			return Failed(fmt.Sprintf("base digest %q is not a digest", digest), nil, []evidence.Location{digestLoc})
		}
		if name == "" {
			return Passed("base pinned at " + digest)
		}
		return Passed("base pinned at " + name + "@" + digest)
	case name == "":
		return Skipped("the image does not name its base (no " + AnnotationBaseName + " or " + AnnotationBaseDigest + " annotation or label)")
	}
	if _, d, ok := strings.Cut(name, "@"); ok {
		if _, err := v1.NewHash(d); err == nil {
			return Passed("base pinned in its name " + name)
		}
	}
	return Failed(fmt.Sprintf("base %s has no digest", name), nil, []evidence.Location{nameLoc})
}

// checkSecrets fails when any secret finding counts (allow-listed ones do not).
func checkSecrets(fs []evidence.Finding) Result {
	var locs []evidence.Location
	var items []string
	n := 0
	for _, f := range fs {
		if !f.Counts() {
			continue
		}
		n++
		where := ""
		for _, l := range f.Locations {
			locs = append(locs, l)
			if where == "" {
				where = " at " + l.Path
			}
		}
		items = append(items, f.ID+where)
	}
	if n == 0 {
		if len(fs) > 0 {
			return Passed(fmt.Sprintf("%d secret finding(s), all allow-listed", len(fs)))
		}
		return Passed("")
	}
	return Failed(fmt.Sprintf("%d secret(s)", n), items, locs)
}
