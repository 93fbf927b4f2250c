package host

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/ingot-build/ingot/pkg/fault"
)

// FuzzTarballAudit feeds hostile tarballs through the whole audit: entries in any order, duplicate
// and hard-linked names, link chains, loops and escapes. Open and Audit return findings or an error of
// kind Invalid; they never panic or hang.
func FuzzTarballAudit(f *testing.F) {
	for _, tr := range []tree{
		goodTree(),
		goodTree().with(tree{"etc/ssh/sshd_config": symlink("a"), "etc/ssh/a": symlink("/etc/ssh/sshd_config")}),
		goodTree().with(tree{"etc/sysctl.d": symlink("../../../x"), "etc/ssh/sshd_config.d/a.conf": reg("Include /etc/ssh/sshd_config\nMatch all\nPermitRootLogin yes\n", 0o644)}),
	} {
		data, err := os.ReadFile(tr.tarball(f))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<20 {
			return
		}
		name := filepath.Join(t.TempDir(), "root.tar")
		if err := os.WriteFile(name, data, 0o644); err != nil {
			t.Fatal(err)
		}
		tr, err := Open(context.Background(), name, OpenOptions{})
		if err != nil {
			if !errors.Is(err, fault.Invalid) {
				t.Fatalf("Open: %v is not an invalid-input error", err)
			}
			return
		}
		defer func() { _ = tr.Close() }()
		if _, err := Audit(context.Background(), tr, Options{Policy: goodPolicy()}); err != nil && !errors.Is(err, fault.Invalid) {
			t.Fatalf("Audit: %v is not an invalid-input error", err)
		}
	})
}
