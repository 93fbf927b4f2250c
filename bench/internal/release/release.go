// Package release builds ingot for a benchmark the way release binaries of Go tools are built, and says
// how each binary a benchmark times was built. cosign, syft and osv-scanner publish static binaries
// (CGO_ENABLED=0, -trimpath); a cgo build of the same source links the C library and starts through
// the dynamic loader, which costs cosign about 13 ms and ingot about 1.4 ms of every process on the
// 2-core machine. Comparing one tool's release-style build with another's cgo build would measure
// the build, not the tool, so the benchmarks build ingot as a release is built and print, for every
// binary they time, which kind it is.
package release

import (
	"context"
	"debug/buildinfo"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// Build compiles the package pkg (an import path or a path relative to dir) of the module in dir into
// out, static and with -trimpath, whatever CGO_ENABLED the caller's environment says.
func Build(ctx context.Context, dir, out, pkg string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", out, pkg) //nolint:gosec // G204: the go tool, building this module
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if o, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building %s: %w\n%s", pkg, err, o)
	}
	return nil
}

// Describe says how the Go binary at path was built: its main module's version and whether it uses
// cgo, as "v2.6.5, static" or "(devel), cgo: not how its releases are built". A binary that is not Go,
// or not readable, is described by the error.
func Describe(path string) string {
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		return "unknown build (" + err.Error() + ")"
	}
	kind := "static"
	if cgo(info) {
		kind = "cgo: not how its releases are built (rebuild with CGO_ENABLED=0 -trimpath)"
	}
	return info.Main.Version + ", " + kind
}

func cgo(info *buildinfo.BuildInfo) bool {
	for _, s := range info.Settings {
		if s.Key == "CGO_ENABLED" {
			return strings.TrimSpace(s.Value) != "0"
		}
	}
	return false
}
