package imagetest

import (
	"regexp"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ingot-build/ingot/pkg/evidence"
)

// metadata checks the config against the test; passwd and group are the image's account files (nil
// when absent or not needed), through which a user name and a uid name the same account.
func metadata(m *MetadataTest, cfg v1.Config, passwd, group []byte) evidence.Finding {
	f := newFinding(MetadataTestName, TypeMetadata, "")
	var why failures
	if m.User != "" && !sameUser(cfg.User, m.User, passwd, group) {
		why.add("user is %q, want %q", cfg.User, m.User)
	}
	env := map[string]string{}
	for _, kv := range cfg.Env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	matches(&why, "env", env, m.EnvVars)
	matches(&why, "label", cfg.Labels, m.Labels)
	if m.Entrypoint != nil && !slices.Equal(*m.Entrypoint, cfg.Entrypoint) {
		why.add("entrypoint is %q, want %q", cfg.Entrypoint, *m.Entrypoint)
	}
	if m.Cmd != nil && !slices.Equal(*m.Cmd, cfg.Cmd) {
		why.add("cmd is %q, want %q", cfg.Cmd, *m.Cmd)
	}
	if m.Workdir != "" && orRoot(cfg.WorkingDir) != orRoot(m.Workdir) {
		why.add("workdir is %q, want %q", cfg.WorkingDir, m.Workdir)
	}
	for _, p := range m.ExposedPorts {
		if _, ok := cfg.ExposedPorts[port(p)]; !ok {
			why.add("port %s is not exposed", port(p))
		}
	}
	for _, p := range m.UnexposedPorts {
		if _, ok := cfg.ExposedPorts[port(p)]; ok {
			why.add("port %s is exposed", port(p))
		}
	}
	for _, v := range m.Volumes {
		if _, ok := cfg.Volumes[v]; !ok {
			why.add("volume %s is not declared", v)
		}
	}
	for _, v := range m.UnmountedVolumes {
		if _, ok := cfg.Volumes[v]; ok {
			why.add("volume %s is declared", v)
		}
	}
	why.settle(&f)
	return f
}

func matches(why *failures, what string, have map[string]string, want []Match) {
	for _, w := range want {
		v, ok := have[w.Key]
		switch {
		case !ok:
			why.add("%s %s is not set", what, w.Key)
		case w.IsRegex:
			if m, err := regexp.MatchString(w.Value, v); err != nil || !m {
				why.add("%s %s=%q does not match %q", what, w.Key, v, w.Value)
			}
		case v != w.Value:
			why.add("%s %s=%q, want %q", what, w.Key, v, w.Value)
		}
	}
}

// orRoot is the directory a runtime starts in for a config's WorkingDir.
func orRoot(dir string) string {
	if dir == "" {
		return "/"
	}
	return dir
}

// port adds the default protocol, as the image config spells exposed ports ("8080/tcp").
func port(p string) string {
	if strings.Contains(p, "/") {
		return p
	}
	return p + "/tcp"
}

// sameUser reports whether the config's User and the test's name the same account: the same string,
// or a name and a number that the image's /etc/passwd (for the user) and /etc/group (for a group
// after the colon) tie together, either way round. The config says "65532" or "nonroot" as its
// author chose; a test written against the other spelling means the same user.
func sameUser(have, want string, passwd, group []byte) bool {
	hu, hg, hHas := strings.Cut(have, ":")
	wu, wg, wHas := strings.Cut(want, ":")
	if hHas != wHas {
		return false
	}
	return sameID(hu, wu, entries(passwd, 7)) && (!hHas || sameID(hg, wg, entries(group, 3)))
}

// sameID compares two user (or group) names or ids through table, the entries of /etc/passwd (or
// /etc/group): name, password, id, ...
func sameID(a, b string, table [][]string) bool {
	if a == b {
		return true
	}
	ida, oka := idOf(a, table)
	idb, okb := idOf(b, table)
	return oka && okb && ida == idb
}

// idOf is the numeric id a name or number stands for; a name the table lacks has none.
func idOf(s string, table [][]string) (uint32, bool) {
	if id, ok := parseID(s); ok {
		return id, true
	}
	for _, e := range table {
		if e[0] == s {
			return parseID(e[2])
		}
	}
	return 0, false
}
