package regtest

import "testing"

func TestPostgresCluster(t *testing.T) {
	c := StartPostgres(t)
	a, b := c.NewDatabase(t), c.NewDatabase(t)
	if a == b {
		t.Fatalf("two databases share a name: %s", a)
	}
	c.Psql(t, a, "CREATE TABLE x (n int); INSERT INTO x VALUES (41), (1)")
	if got := c.Psql(t, a, "SELECT sum(n) FROM x"); got != "42" {
		t.Errorf("sum = %q, want 42", got)
	}
	if got := c.Psql(t, b, "SELECT count(*) FROM pg_tables WHERE tablename = 'x'"); got != "0" {
		t.Errorf("the second database sees the first one's table: %s", got)
	}
}
