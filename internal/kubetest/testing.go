package kubetest

import (
	"context"
	"os"
	"testing"

	"github.com/ingot-build/ingot/internal/regtest"
)

// StartT starts a cluster for a test, stopped when it ends. Without kube-apiserver or etcd the test is
// skipped, or fails when CI is set (.ci/run provides both).
func StartT(t testing.TB) *Cluster {
	t.Helper()
	etcd := regtest.Peer(t, "etcd")
	bin, err := FindAPIServer()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%v (CI is set, so .ci/run should have provided it)", err)
		}
		t.Skip(err)
	}
	c, err := Start(context.Background(), Options{Dir: t.TempDir(), APIServer: bin, Etcd: etcd})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	return c
}
