package host_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ingot-build/ingot/pkg/host"
)

// Audit a root file system directory with the CIS Level 1 profile and list what failed.
func ExampleAudit() {
	root, err := os.MkdirTemp("", "host-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = os.RemoveAll(root) }()
	// Debian's layout: the drop-ins are read first, so the drop-in's "yes" is what sshd uses.
	ssh := filepath.Join(root, "etc", "ssh")
	err = errors.Join(
		os.MkdirAll(filepath.Join(ssh, "sshd_config.d"), 0o755),
		os.WriteFile(filepath.Join(ssh, "sshd_config"), []byte("Include /etc/ssh/sshd_config.d/*.conf\nPermitRootLogin no\n"), 0o644),
		os.WriteFile(filepath.Join(ssh, "sshd_config.d", "10-cloud.conf"), []byte("PermitRootLogin yes\n"), 0o644),
	)
	if err != nil {
		fmt.Println(err)
		return
	}

	tree, err := host.Open(context.Background(), root, host.OpenOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = tree.Close() }()
	findings, err := host.Audit(context.Background(), tree, host.Options{Profile: host.ProfileCISL1})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, f := range findings {
		if f.ID == host.RuleSSHRootLogin {
			fmt.Println(f.ID, f.Status, f.Detail["found"], f.Locations[0].Path)
		}
	}
	// Output:
	// INGOT-V001 failed PermitRootLogin yes /etc/ssh/sshd_config.d/10-cloud.conf
}
