package harden

import (
	"strconv"
	"strings"
)

// account is one line of /etc/passwd, /etc/shadow or /etc/group.
type account struct {
	Name string
	// Password is the second field: "x" (see shadow), "*" or "!..." (locked), a hash, or empty (none).
	Password string
	// ID is the third field of passwd and group (uid, gid); -1 when absent or not a number, and for
	// shadow, which has none.
	ID   int64
	Line int
}

// parseAccounts reads a colon-separated account database as glibc's files backend does: blank lines,
// comments and NIS compat entries ("+", "-") are skipped, and so are lines without a name or with
// fewer than minFields fields.
func parseAccounts(data []byte, minFields int) []account {
	var out []account
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if line == "" || line[0] == '#' || line[0] == '+' || line[0] == '-' {
			continue
		}
		fields := strings.Split(line, ":")
		if len(fields) < minFields || fields[0] == "" {
			continue
		}
		a := account{Name: fields[0], Password: fields[1], ID: -1, Line: i + 1}
		if minFields >= 3 {
			if id, err := strconv.ParseUint(fields[2], 10, 32); err == nil {
				a.ID = int64(id)
			}
		}
		out = append(out, a)
	}
	return out
}

// Minimum field counts: passwd has 7, shadow 9 and group 4, but only the first three matter here and
// real files are sometimes short of trailing empty fields.
const (
	passwdFields = 3
	shadowFields = 2
	groupFields  = 3
)
