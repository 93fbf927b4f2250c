package selfid

import (
	"runtime"
	"runtime/debug"
)

// version is a packager's version, set at link time:
//
//	go build -ldflags "-X github.com/ingot-build/ingot/internal/selfid.version=1.2.3" ./cmd/ingot
//
// Empty, the version comes from the build info. It is only ever written by the linker.
var version string

// Build is what the running binary knows about its own build.
type Build struct {
	// Version is the string that names this ingot everywhere: ingot version, the SBOMs' creator
	// tool, the vuln predicate's scanner and the provenance's builder. See Version.
	Version string
	// Revision is the VCS revision the binary was built from (vcs.revision), "" when the build
	// recorded none; Modified says the work tree had changes (vcs.modified).
	Revision string
	Modified bool
	// Go is the toolchain that built it.
	Go string
}

// Info reads the running binary's build info.
func Info() Build {
	bi, _ := debug.ReadBuildInfo() // nil without build info: fromBuildInfo gives "devel"
	return fromBuildInfo(bi, version)
}

// Version is the running ingot's version: the link-time version when a packager set one, else the
// main module's version from the build info (a release tag under go install, a pseudo-version that
// names the commit for a source build of go 1.24 or later), else "devel" followed by the VCS revision
// ("devel-0123456789ab", "+dirty" when the tree had changes), else "devel".
func Version() string { return Info().Version }

func fromBuildInfo(bi *debug.BuildInfo, linked string) Build {
	b := Build{Go: runtime.Version()}
	if bi == nil {
		b.Version = orDevel(linked, "", "", false)
		return b
	}
	if bi.GoVersion != "" {
		b.Go = bi.GoVersion
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	b.Version = orDevel(linked, bi.Main.Version, b.Revision, b.Modified)
	return b
}

func orDevel(linked, module, revision string, modified bool) string {
	switch {
	case linked != "":
		return linked
	case module != "" && module != "(devel)":
		return module
	}
	v := "devel"
	if revision != "" {
		v += "-" + revision[:min(12, len(revision))]
		if modified {
			v += "+dirty"
		}
	}
	return v
}
