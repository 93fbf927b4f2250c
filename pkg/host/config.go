package host

import (
	"path"
	"sort"
	"strings"
)

// sshdConfig is the global (outside any Match block) value of each keyword sshd would use, lower
// case, with the file and line that set it.
type sshdConfig map[string]sshdValue

type sshdValue struct {
	value string
	file  string
	line  int
}

// maxIncludeDepth is sshd's own limit on nested Include directives (READCONF_MAX_DEPTH).
const maxIncludeDepth = 16

// readSSHD reads /etc/ssh/sshd_config the way sshd does: the first value of a keyword wins, an
// Include is read where it stands (its glob expanded and sorted, relative paths taken from
// /etc/ssh), and lines inside a Match block are conditional, so they set no global value.
func (t *Tree) readSSHD() (cfg sshdConfig, present bool, err error) {
	cfg = sshdConfig{}
	data, ok, err := t.readFile("etc/ssh/sshd_config")
	if err != nil || !ok {
		return cfg, false, err
	}
	inMatch := false
	err = t.parseSSHD(t.physical("etc/ssh/sshd_config"), data, cfg, &inMatch, 0)
	return cfg, true, err
}

func (t *Tree) parseSSHD(file string, data []byte, cfg sshdConfig, inMatch *bool, depth int) error {
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value := splitKeyword(line)
		switch key {
		case "match":
			*inMatch = !strings.EqualFold(strings.TrimSpace(value), "all")
			continue
		case "include":
			if depth >= maxIncludeDepth {
				continue
			}
			for _, pattern := range strings.Fields(value) {
				if !strings.HasPrefix(pattern, "/") {
					pattern = "/etc/ssh/" + pattern
				}
				files, err := t.glob(cleanPath(pattern))
				if err != nil {
					return err
				}
				for _, f := range files {
					inc, ok, err := t.readFile(f)
					if err != nil {
						return err
					}
					if ok {
						if err := t.parseSSHD(t.physical(f), inc, cfg, inMatch, depth+1); err != nil {
							return err
						}
					}
				}
			}
			continue
		}
		if *inMatch {
			continue
		}
		if _, set := cfg[key]; !set {
			cfg[key] = sshdValue{value: strings.TrimSpace(value), file: "/" + file, line: i + 1}
		}
	}
	return nil
}

// physical is the path a file is really at, its links resolved; findings point there.
func (t *Tree) physical(p string) string {
	if r, ok, err := t.resolve(p); err == nil && ok {
		return r
	}
	return p
}

// splitKeyword splits "Keyword value" or "Keyword=value"; the keyword is lower-cased, as sshd
// compares keywords without case.
func splitKeyword(line string) (string, string) {
	i := strings.IndexAny(line, " \t=")
	if i < 0 {
		return strings.ToLower(line), ""
	}
	key, rest := line[:i], strings.TrimLeft(line[i:], " \t")
	rest = strings.TrimPrefix(rest, "=")
	return strings.ToLower(key), strings.Trim(strings.TrimSpace(rest), "\"")
}

// glob expands a pattern whose wildcards are in its last component (as sshd_config.d/*.conf is),
// sorted as glob(3) sorts.
func (t *Tree) glob(pattern string) ([]string, error) {
	dir, base := path.Split(pattern)
	dir = strings.TrimSuffix(dir, "/")
	if !strings.ContainsAny(base, "*?[") {
		return []string{pattern}, nil
	}
	names, err := t.list(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range names {
		if ok, _ := path.Match(base, n); ok && !strings.HasPrefix(n, ".") {
			out = append(out, path.Join(dir, n))
		}
	}
	sort.Strings(out)
	return out, nil
}

// sysctlSetting is the value a key ends up with, and where it was set.
type sysctlSetting struct {
	value string
	file  string
	line  int
}

// sysctlDirs are systemd-sysctl's directories, highest precedence first: a file in an earlier one
// hides a file of the same name in a later one (/lib/sysctl.d is /usr/lib/sysctl.d on a merged-/usr
// system and is read as such on an unmerged one).
var sysctlDirs = []string{"etc/sysctl.d", "run/sysctl.d", "usr/local/lib/sysctl.d", "usr/lib/sysctl.d", "lib/sysctl.d"}

// readSysctl computes the settings systemd-sysctl applies at boot: the *.conf files of the sysctl.d
// directories, one per name (the highest-precedence directory wins; a link to /dev/null or an empty
// file masks the name), applied in name order so that a later assignment overrides an earlier one;
// then /etc/sysctl.conf, which Debian's procps links in as /etc/sysctl.d/99-sysctl.conf and `sysctl
// --system` reads last. A key may be a glob (net.ipv4.conf.*.rp_filter) and applies to every key it
// matches; "/" separates components like ".".
func (t *Tree) readSysctl() (map[string]sysctlSetting, []globSetting, error) {
	chosen := map[string]string{}
	for _, d := range sysctlDirs {
		names, err := t.list(d)
		if err != nil {
			return nil, nil, err
		}
		for _, n := range names {
			if !strings.HasSuffix(n, ".conf") {
				continue
			}
			if _, ok := chosen[n]; !ok {
				chosen[n] = path.Join(d, n)
			}
		}
	}
	var names []string
	for n := range chosen {
		names = append(names, n)
	}
	sort.Strings(names)
	files := make([]string, 0, len(names)+1)
	seen := map[string]bool{}
	for _, n := range names {
		f := chosen[n]
		if node, _, err := t.lookup(f); err != nil {
			return nil, nil, err
		} else if t.masked(f) || node == nil {
			continue
		}
		r, _, _ := t.resolve(f)
		seen[r] = true
		files = append(files, f)
	}
	if r, ok, err := t.resolve("etc/sysctl.conf"); err != nil {
		return nil, nil, err
	} else if ok && !seen[r] {
		files = append(files, "etc/sysctl.conf")
	}
	out := map[string]sysctlSetting{}
	var globs []globSetting
	for _, f := range files {
		data, ok, err := t.readFile(f)
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			continue
		}
		for i, line := range strings.Split(string(data), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || line[0] == '#' || line[0] == ';' {
				continue
			}
			key, value, ok := strings.Cut(line, "=")
			if !ok {
				continue
			}
			key = strings.TrimPrefix(strings.TrimSpace(key), "-")
			key = strings.ReplaceAll(key, "/", ".")
			s := sysctlSetting{value: strings.TrimSpace(value), file: "/" + t.physical(f), line: i + 1}
			if strings.ContainsAny(key, "*?[") {
				// A glob sets the keys it matches that are not set explicitly elsewhere: systemd
				// applies globs first and explicit keys override them.
				globs = append(globs, globSetting{pattern: key, sysctlSetting: s})
				continue
			}
			out[key] = s
		}
	}
	return out, globs, nil
}

type globSetting struct {
	pattern string
	sysctlSetting
}

// masked reports whether a sysctl.d or unit file is a link to /dev/null.
func (t *Tree) masked(p string) bool {
	n, ok := t.nodes[p]
	return ok && n.typ == '2' && (n.link == "/dev/null" || n.link == "../../../dev/null")
}

// sysctlValue is the value key gets at boot: an explicit setting, else the last glob that matches
// it, else def (the kernel's default, as Debian's kernel builds it).
func sysctlValue(set map[string]sysctlSetting, globs []globSetting, key, def string) sysctlSetting {
	if s, ok := set[key]; ok {
		return s
	}
	for i := len(globs) - 1; i >= 0; i-- {
		if ok, _ := path.Match(strings.ReplaceAll(globs[i].pattern, ".", "/"), strings.ReplaceAll(key, ".", "/")); ok {
			return globs[i].sysctlSetting
		}
	}
	return sysctlSetting{value: def}
}

// dpkgPackage is one installed package of dpkg's status database.
type dpkgPackage struct {
	Name, Version, Arch string
}

// readDpkg lists the installed packages (Status: install ok installed, or any state that keeps
// files on disk other than config-files): what apt would have to purge.
func (t *Tree) readDpkg() (map[string]dpkgPackage, bool, error) {
	data, ok, err := t.readFile("var/lib/dpkg/status")
	if err != nil || !ok {
		return nil, false, err
	}
	out := map[string]dpkgPackage{}
	for _, para := range strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n\n") {
		var p dpkgPackage
		var status string
		for _, line := range strings.Split(para, "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok || strings.HasPrefix(line, " ") {
				continue
			}
			v = strings.TrimSpace(v)
			switch k {
			case "Package":
				p.Name = v
			case "Version":
				p.Version = v
			case "Architecture":
				p.Arch = v
			case "Status":
				status = v
			}
		}
		f := strings.Fields(status)
		if p.Name == "" || len(f) != 3 || f[2] == "not-installed" || f[2] == "config-files" {
			continue
		}
		out[p.Name] = p
	}
	return out, true, nil
}

// enabledUnits lists the units enabled in /etc/systemd/system: the names of the symlinks in its
// .wants and .requires directories (what systemctl enable makes), with where each link is. Units
// masked in /etc/systemd/system do not start and are left out.
func (t *Tree) enabledUnits() (map[string]string, error) {
	out := map[string]string{}
	const base = "etc/systemd/system"
	dirs, err := t.list(base)
	if err != nil {
		return nil, err
	}
	for _, d := range dirs {
		if !strings.HasSuffix(d, ".wants") && !strings.HasSuffix(d, ".requires") {
			continue
		}
		names, err := t.list(path.Join(base, d))
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			if t.masked(path.Join(base, n)) {
				continue
			}
			if _, ok := out[n]; !ok {
				out[n] = "/" + path.Join(base, d, n)
			}
		}
	}
	return out, nil
}

// account is one line of /etc/passwd or /etc/shadow, split.
type account struct {
	fields []string
	line   int
}

func readColon(data []byte) []account {
	var out []account
	for i, line := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, account{fields: strings.Split(line, ":"), line: i + 1})
	}
	return out
}

// mount is one fstab entry.
type mount struct {
	source, target, fstype string
	options                []string
	line                   int
}

func readFstab(data []byte) []mount {
	var out []mount
	for i, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || strings.HasPrefix(f[0], "#") {
			continue
		}
		out = append(out, mount{source: f[0], target: path.Clean(f[1]), fstype: f[2], options: strings.Split(f[3], ","), line: i + 1})
	}
	return out
}
