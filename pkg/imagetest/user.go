package imagetest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrUnknownUser means the image config names a user or group its /etc/passwd or /etc/group lacks.
var ErrUnknownUser = errors.New("imagetest: unknown user")

// identity is who a command runs as, worked out from the image config's User as container runtimes do.
type identity struct {
	uid, gid uint32
	groups   []uint32 // supplementary groups, from /etc/group membership
	home     string   // "" when the user has no passwd entry
}

// passwd and group lines: name:x:id:...; fields are split on ':'.
func entries(data []byte, minFields int) [][]string {
	var out [][]string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if f := strings.Split(line, ":"); len(f) >= minFields {
			out = append(out, f)
		}
	}
	return out
}

func parseID(s string) (uint32, bool) {
	v, err := strconv.ParseUint(s, 10, 32)
	return uint32(v), err == nil
}

// resolveUser reads "user", "uid", "user:group" or "uid:gid" (empty: root) against the image's
// /etc/passwd and /etc/group. A numeric uid need not exist; a name must.
func resolveUser(spec string, passwd, group []byte) (identity, error) {
	u, g, hasGroup := strings.Cut(spec, ":")
	if u == "" {
		u = "0"
	}
	var id identity
	var name string // the user's passwd name, "" for a uid without an entry
	users := entries(passwd, 7)
	if uid, ok := parseID(u); ok {
		id.uid = uid
		for _, e := range users {
			if e[2] == u {
				name = e[0]
				id.gid, _ = parseID(e[3])
				id.home = e[5]
				break
			}
		}
	} else {
		for _, e := range users {
			if e[0] == u {
				uid, ok1 := parseID(e[2])
				gid, ok2 := parseID(e[3])
				if !ok1 || !ok2 {
					return id, fmt.Errorf("%w: /etc/passwd entry of %q has no numeric uid and gid", ErrUnknownUser, u)
				}
				name = u
				id.uid, id.gid, id.home = uid, gid, e[5]
				break
			}
		}
		if name == "" {
			return id, fmt.Errorf("%w: %q is not in the image's /etc/passwd", ErrUnknownUser, u)
		}
	}
	groups := entries(group, 3)
	if hasGroup {
		if gid, ok := parseID(g); ok {
			id.gid = gid
		} else {
			found := false
			for _, e := range groups {
				if e[0] == g {
					if id.gid, found = parseID(e[2]); found {
						break
					}
				}
			}
			if !found {
				return id, fmt.Errorf("%w: group %q is not in the image's /etc/group", ErrUnknownUser, g)
			}
		}
	}
	if name != "" {
		for _, e := range groups {
			if len(e) < 4 {
				continue
			}
			gid, ok := parseID(e[2])
			if !ok || gid == id.gid {
				continue
			}
			for _, m := range strings.Split(e[3], ",") {
				if m == name {
					id.groups = append(id.groups, gid)
					break
				}
			}
		}
	}
	return id, nil
}
