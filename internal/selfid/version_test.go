package selfid

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionFromBuildInfo(t *testing.T) {
	vcs := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}
	}
	const rev = "25c8c31f6cd0e1f1d99d584cabf86f6787f952f0"
	for _, tc := range []struct {
		name   string
		bi     *debug.BuildInfo
		linked string
		want   Build
	}{
		{"go install of a release", &debug.BuildInfo{GoVersion: "go1.26.1", Main: debug.Module{Version: "v1.4.0"}},
			"", Build{Version: "v1.4.0", Go: "go1.26.1"}},
		{"source build stamped by go 1.24+", &debug.BuildInfo{GoVersion: "go1.26.1", Main: debug.Module{Version: "v0.0.0-20260101000000-25c8c31f6cd0+dirty"}, Settings: vcs(rev, "true")},
			"", Build{Version: "v0.0.0-20260101000000-25c8c31f6cd0+dirty", Revision: rev, Modified: true, Go: "go1.26.1"}},
		{"source build with a revision only", &debug.BuildInfo{GoVersion: "go1.26.1", Main: debug.Module{Version: "(devel)"}, Settings: vcs(rev, "false")},
			"", Build{Version: "devel-25c8c31f6cd0", Revision: rev, Go: "go1.26.1"}},
		{"modified source build", &debug.BuildInfo{GoVersion: "go1.26.1", Main: debug.Module{Version: "(devel)"}, Settings: vcs(rev, "true")},
			"", Build{Version: "devel-25c8c31f6cd0+dirty", Revision: rev, Modified: true, Go: "go1.26.1"}},
		{"no VCS information (-buildvcs=false, go test)", &debug.BuildInfo{GoVersion: "go1.26.1", Main: debug.Module{Version: "(devel)"}},
			"", Build{Version: "devel", Go: "go1.26.1"}},
		{"a packager's version wins", &debug.BuildInfo{GoVersion: "go1.26.1", Main: debug.Module{Version: "(devel)"}, Settings: vcs(rev, "false")},
			"1.4.0-2", Build{Version: "1.4.0-2", Revision: rev, Go: "go1.26.1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := fromBuildInfo(tc.bi, tc.linked); got != tc.want {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
	if got := fromBuildInfo(nil, ""); got.Version != "devel" || got.Go == "" {
		t.Errorf("without build info: %+v", got)
	}
}

// TestVersionOfThisBinary: what Version says is what the test binary's own build info gives.
func TestVersionOfThisBinary(t *testing.T) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		t.Skip("no build info in this binary")
	}
	v := Version()
	switch {
	case bi.Main.Version != "" && bi.Main.Version != "(devel)":
		if v != bi.Main.Version {
			t.Errorf("Version() = %q, the build info says %q", v, bi.Main.Version)
		}
	case !strings.HasPrefix(v, "devel"):
		t.Errorf("Version() = %q for a binary without a module version, want devel…", v)
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && !strings.Contains(v, s.Value[:12]) && bi.Main.Version == "(devel)" {
			t.Errorf("Version() = %q does not name the revision %s", v, s.Value)
		}
	}
}
