package host_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ingot-build/ingot/pkg/host"
)

// Audit a root file system directory with the CIS Level 1 profile and list what failed.
func ExampleAudit() {
	root, _ := os.MkdirTemp("", "host-example-")
	defer os.RemoveAll(root)
	os.MkdirAll(filepath.Join(root, "etc", "ssh", "sshd_config.d"), 0o755)
	// Debian's layout: the drop-ins are read first, so the drop-in's "yes" is what sshd uses.
	os.WriteFile(filepath.Join(root, "etc", "ssh", "sshd_config"), []byte("Include /etc/ssh/sshd_config.d/*.conf\nPermitRootLogin no\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc", "ssh", "sshd_config.d", "10-cloud.conf"), []byte("PermitRootLogin yes\n"), 0o644)

	tree, err := host.Open(context.Background(), root, host.OpenOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer tree.Close()
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
