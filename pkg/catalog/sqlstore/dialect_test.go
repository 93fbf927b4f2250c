package sqlstore

import "testing"

func TestRebind(t *testing.T) {
	pg := &Dialect{Numbered: true}
	for in, want := range map[string]string{
		"SELECT 1":                               "SELECT 1",
		"a = ? AND b IN (?, ?)":                  "a = $1 AND b IN ($2, $3)",
		"VALUES (?, ?), (?, ?), (?, ?), (?, ?)?": "VALUES ($1, $2), ($3, $4), ($5, $6), ($7, $8)$9",
	} {
		if got := pg.rebind(in); got != want {
			t.Errorf("rebind(%q) = %q, want %q", in, got, want)
		}
		if got := (&Dialect{}).rebind(in); got != in {
			t.Errorf("SQLite's rebind(%q) = %q, want it unchanged", in, got)
		}
	}
}
