package harden_test

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/harden"
)

// An image that runs as root and ships busybox fails two rules; waiving one keeps its reason.
func ExampleLint() {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, h := range []tar.Header{
		{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755},
		{Name: "bin/sh", Typeflag: tar.TypeSymlink, Linkname: "busybox"},
	} {
		_ = tw.WriteHeader(&h)
	}
	_ = tw.Close()
	layer, _ := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b.Bytes())), nil })
	img, _ := mutate.AppendLayers(empty.Image, layer)

	findings, err := harden.Lint(context.Background(), img, harden.Options{
		Waivers: []harden.Waiver{{Rule: harden.RuleShell, Reason: "debug variant"}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, f := range findings {
		if f.Status == evidence.StatusFailed || f.Status == evidence.StatusWaived {
			fmt.Println(f.ID, f.Status, f.Reason, f.Detail["found"])
		}
	}
	// Output:
	// INGOT-H001 failed  no user is set, so the process runs as root
	// INGOT-H002 waived debug variant 1 shell(s): /bin/busybox (as /bin/sh)
}

func ExampleRules() {
	for _, r := range harden.Rules() {
		if r.In(harden.ProfileCIS) {
			fmt.Printf("%s CIS %s %s\n", r.ID, r.CIS, r.CISSeverity)
		}
	}
	// Output:
	// INGOT-H001 CIS 4.1 high
	// INGOT-H002 CIS 4.3 high
	// INGOT-H003 CIS 4.3 high
	// INGOT-H004 CIS 4.8 high
	// INGOT-H009 CIS 4.9 low
	// INGOT-H010 CIS 4.2 high
	// INGOT-H011 CIS 4.10 critical
}
