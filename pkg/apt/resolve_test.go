package apt

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ingot-build/ingot/pkg/deb"
)

// testPackages parses inline stanzas for a small universe. Fields the resolver does not read are filled
// in when absent: Architecture amd64, Version 1.0, and a Filename, Size and SHA256 derived from the name
// and version, so each case shows only what matters to it.
func testPackages(t testing.TB, text string) []*Package {
	t.Helper()
	var pkgs []*Package
	for _, p := range testParagraphs(t, text) {
		pkg, err := ParsePackage(p)
		if err != nil {
			t.Fatalf("test universe: %v", err)
		}
		pkgs = append(pkgs, pkg)
	}
	return pkgs
}

// testParagraphs are the stanzas of text with the fields a test leaves out filled in.
func testParagraphs(t testing.TB, text string) []deb.Paragraph {
	t.Helper()
	var out []deb.Paragraph
	err := deb.ReadParagraphs(strings.NewReader(text), func(p deb.Paragraph) error {
		name, version := p.Get("Package"), p.Get("Version")
		if version == "" {
			version = "1.0"
			p.Fields = append(p.Fields, deb.Field{Name: "Version", Value: version})
		}
		sum := sha256.Sum256([]byte(name + "=" + version))
		for _, f := range []deb.Field{
			{Name: "Architecture", Value: "amd64"},
			{Name: "Filename", Value: "pool/main/" + name + "_" + version + ".deb"},
			{Name: "Size", Value: "1024"},
			{Name: "SHA256", Value: hex.EncodeToString(sum[:])},
		} {
			if _, ok := p.Lookup(f.Name); !ok {
				p.Fields = append(p.Fields, f)
			}
		}
		out = append(out, p)
		return nil
	})
	if err != nil {
		t.Fatalf("test universe: %v", err)
	}
	return out
}

// names renders a resolution as "name=version", in its order.
func names(pkgs []*Package) []string {
	out := make([]string, len(pkgs))
	for i, p := range pkgs {
		out[i] = p.Name + "=" + p.Version.String()
	}
	return out
}

const awkUniverse = `
Package: base-files
Version: 12.4
Priority: required
Pre-Depends: awk

Package: mawk
Version: 1.3.4-3
Priority: required
Provides: awk

Package: gawk
Version: 1:5.2.1-2
Priority: optional
Provides: awk

Package: original-awk
Version: 2012-12-20-10
Priority: optional
Provides: awk
`

// caUniverse is shaped like bookworm's ca-certificates and base-files, the two classic excludes.
const caUniverse = awkUniverse + `
Package: ca-certificates
Version: 20230311+deb12u1
Architecture: all
Depends: openssl (>= 1.1.1), debconf (>= 0.5) | debconf-2.0

Package: openssl
Version: 3.0.20-1~deb12u2
Depends: libssl3 (>= 3.0.20)

Package: libssl3
Version: 3.0.20-1~deb12u2

Package: debconf
Version: 1.5.82
Architecture: all
Pre-Depends: perl-base
Provides: debconf-2.0

Package: perl-base
Version: 5.36.0-7
`

func TestResolve(t *testing.T) {
	tests := []struct {
		name     string
		universe string
		req      Request
		want     []string
		excluded []Exclusion
		virtual  []VirtualChoice
	}{
		{
			name: "follows Pre-Depends and Depends, not Recommends",
			universe: `
Package: app
Depends: libfoo, libbar (>= 1.0)
Recommends: docs

Package: libfoo
Version: 2.0-1
Pre-Depends: libc6

Package: libbar
Version: 1.2

Package: libc6
Version: 2.36-9

Package: docs

Package: unrelated
`,
			req:  Request{Packages: []string{"app"}},
			want: []string{"app=1.0", "libbar=1.2", "libc6=2.36-9", "libfoo=2.0-1"},
		},
		{
			name: "highest version meeting the constraint",
			universe: `
Package: app
Depends: libfoo (<< 3)

Package: libfoo
Version: 3.0

Package: libfoo
Version: 1.0

Package: libfoo
Version: 2.0
`,
			req:  Request{Packages: []string{"app"}},
			want: []string{"app=1.0", "libfoo=2.0"},
		},
		{
			name: "epochs outrank upstream versions",
			universe: `
Package: app
Depends: libfoo (<< 1:0), libbar (>= 1:0)

Package: libfoo
Version: 9.9-1

Package: libfoo
Version: 1:0.1-1

Package: libbar
Version: 9.9-1

Package: libbar
Version: 1:0.1-1
`,
			req:  Request{Packages: []string{"app"}},
			want: []string{"app=1.0", "libbar=1:0.1-1", "libfoo=9.9-1"},
		},
		{
			name: "tilde sorts before the release",
			universe: `
Package: app
Depends: libfoo (<< 2.0), libbar (>= 2.0~)

Package: libfoo
Version: 2.0

Package: libfoo
Version: 2.0~rc1

Package: libbar
Version: 2.0~beta1

Package: libbar
Version: 1.9
`,
			req:  Request{Packages: []string{"app"}},
			want: []string{"app=1.0", "libbar=2.0~beta1", "libfoo=2.0~rc1"},
		},
		{
			name: "first satisfiable alternative in written order",
			universe: `
Package: app
Depends: missing | libold (>= 2) | libnew | libother

Package: libold

Package: libnew

Package: libother
`,
			req:  Request{Packages: []string{"app"}},
			want: []string{"app=1.0", "libnew=1.0"},
		},
		{
			name: "alternative prefers a requested package",
			universe: `
Package: app
Depends: libold | libnew

Package: libold

Package: libnew
`,
			req:  Request{Packages: []string{"app", "libnew"}},
			want: []string{"app=1.0", "libnew=1.0"},
		},
		{
			name: "alternative prefers an already selected package",
			universe: `
Package: app
Depends: libnew, libold | libnew

Package: libold

Package: libnew
`,
			req:  Request{Packages: []string{"app"}},
			want: []string{"app=1.0", "libnew=1.0"},
		},
		{
			name:     "virtual package: provider by priority",
			universe: awkUniverse,
			req:      Request{Packages: []string{"base-files"}},
			want:     []string{"base-files=12.4", "mawk=1.3.4-3"},
			virtual:  []VirtualChoice{{Name: "awk", Provider: "mawk", RequiredBy: []string{"base-files"}}},
		},
		{
			name:     "virtual package: equal priority goes by name; an excluded provider is never installed",
			universe: awkUniverse,
			req:      Request{Packages: []string{"base-files"}, Exclude: []string{"mawk"}},
			want:     []string{"base-files=12.4", "gawk=1:5.2.1-2"},
			virtual:  []VirtualChoice{{Name: "awk", Provider: "gawk", RequiredBy: []string{"base-files"}}},
		},
		{
			name:     "virtual package: a selected provider wins",
			universe: awkUniverse,
			req:      Request{Packages: []string{"original-awk", "base-files"}},
			want:     []string{"base-files=12.4", "original-awk=2012-12-20-10"},
			virtual:  []VirtualChoice{{Name: "awk", Provider: "original-awk", RequiredBy: []string{"base-files"}}},
		},
		{
			name:     "virtual package requested by name",
			universe: awkUniverse,
			req:      Request{Packages: []string{"awk"}},
			want:     []string{"mawk=1.3.4-3"},
			virtual:  []VirtualChoice{{Name: "awk", Provider: "mawk"}},
		},
		{
			name: "versioned relation on a virtual needs a versioned Provides",
			universe: `
Package: app
Depends: libfoo-abi (>= 2)

Package: foo-one
Provides: libfoo-abi (= 1)

Package: foo-three
Provides: libfoo-abi (= 3)

Package: foo-any
Priority: required
Provides: libfoo-abi
`,
			req:     Request{Packages: []string{"app"}},
			want:    []string{"app=1.0", "foo-three=1.0"},
			virtual: []VirtualChoice{{Name: "libfoo-abi", Provider: "foo-three", RequiredBy: []string{"app"}}},
		},
		{
			name: "a real package beats providers of its name",
			universe: `
Package: app
Depends: mail

Package: mail

Package: alpha-mail
Priority: required
Provides: mail
`,
			req:  Request{Packages: []string{"app"}},
			want: []string{"app=1.0", "mail=1.0"},
		},
		{
			name:     "excludes cut real and virtual dependencies and say who needed them",
			universe: caUniverse,
			req:      Request{Packages: []string{"ca-certificates", "base-files"}, Exclude: []string{"debconf", "awk", "unused"}},
			want:     []string{"base-files=12.4", "ca-certificates=20230311+deb12u1", "libssl3=3.0.20-1~deb12u2", "openssl=3.0.20-1~deb12u2"},
			excluded: []Exclusion{{Name: "awk", RequiredBy: []string{"base-files"}}, {Name: "debconf", RequiredBy: []string{"ca-certificates"}}},
		},
		{
			name:     "excluding the virtual alternative satisfies the group",
			universe: caUniverse,
			req:      Request{Packages: []string{"ca-certificates"}, Exclude: []string{"debconf-2.0"}},
			want:     []string{"ca-certificates=20230311+deb12u1", "libssl3=3.0.20-1~deb12u2", "openssl=3.0.20-1~deb12u2"},
			excluded: []Exclusion{{Name: "debconf-2.0", RequiredBy: []string{"ca-certificates"}}},
		},
		{
			name:     "without excludes",
			universe: caUniverse,
			req:      Request{Packages: []string{"ca-certificates"}},
			want: []string{"ca-certificates=20230311+deb12u1", "debconf=1.5.82", "libssl3=3.0.20-1~deb12u2",
				"openssl=3.0.20-1~deb12u2", "perl-base=5.36.0-7"},
		},
		{
			name: "pin selects an older version",
			universe: `
Package: app
Depends: libfoo

Package: libfoo
Version: 2.0

Package: libfoo
Version: 1.0
`,
			req:  Request{Packages: []string{"libfoo=1.0", "app", "libfoo"}},
			want: []string{"app=1.0", "libfoo=1.0"},
		},
		{
			name: "a later constraint changes an earlier choice without leftovers",
			universe: `
Package: app
Depends: libfoo, libbar

Package: libbar
Depends: libfoo (<< 2)

Package: libfoo
Version: 2.0
Depends: libnew

Package: libfoo
Version: 1.5
Depends: libold

Package: libnew

Package: libold
`,
			req:  Request{Packages: []string{"app"}},
			want: []string{"app=1.0", "libbar=1.0", "libfoo=1.5", "libold=1.0"},
		},
		{
			name: "a later constraint upgrades through another alternative",
			universe: `
Package: app
Depends: libfoo (<= 1.5) | libalt, libbar

Package: libbar
Depends: libfoo (>= 2)

Package: libfoo
Version: 2.0

Package: libfoo
Version: 1.5
Depends: libold

Package: libalt

Package: libold
`,
			req:  Request{Packages: []string{"app"}},
			want: []string{"app=1.0", "libalt=1.0", "libbar=1.0", "libfoo=2.0"},
		},
		{
			name: "architecture restrictions and qualifiers",
			universe: `
Package: app
Depends: libarm [arm64], libx86 [!arm64 !armhf], libany [linux-any], libc6:any, python3:native, libz:amd64, libboth

Package: libarm
Architecture: arm64

Package: libx86

Package: libany

Package: libc6

Package: python3

Package: libz

Package: libboth
Version: 2.0
Architecture: arm64

Package: libboth
Version: 1.0
Architecture: all
`,
			req:  Request{Packages: []string{"app"}},
			want: []string{"app=1.0", "libany=1.0", "libboth=1.0", "libc6=1.0", "libx86=1.0", "libz=1.0", "python3=1.0"},
		},
		{
			name: "dependency cycle",
			universe: `
Package: alpha
Depends: beta

Package: beta
Pre-Depends: alpha
`,
			req:  Request{Packages: []string{"alpha"}},
			want: []string{"alpha=1.0", "beta=1.0"},
		},
		{
			name: "Conflicts and Breaks that do not match",
			universe: `
Package: app
Depends: libbar, libbaz
Conflicts: libbaz (<< 3), app, libnone
Breaks: libbar (>> 1.0)

Package: libbar

Package: libbaz
Version: 3.0
`,
			req:  Request{Packages: []string{"app"}},
			want: []string{"app=1.0", "libbar=1.0", "libbaz=3.0"},
		},
		{
			// The shape of gnome-core in bookworm: pipewire-audio Conflicts pulseaudio, and a library
			// needing "pulseaudio | pipewire-pulse" is reached before pipewire-audio's own Depends.
			name: "an alternative that would clash with the selection is passed over",
			universe: `
Package: desktop
Depends: libcanberra-pulse, pipewire-audio

Package: libcanberra-pulse
Depends: pulseaudio | pipewire-pulse

Package: pipewire-audio
Depends: pipewire-pulse
Conflicts: pulseaudio

Package: pulseaudio

Package: pipewire-pulse
`,
			req:  Request{Packages: []string{"desktop"}},
			want: []string{"desktop=1.0", "libcanberra-pulse=1.0", "pipewire-audio=1.0", "pipewire-pulse=1.0"},
		},
		{
			name: "a provider whose own Conflicts would clash is passed over",
			universe: `
Package: app
Depends: sound, audio-daemon

Package: sound

Package: pulseaudio
Priority: required
Provides: audio-daemon
Conflicts: sound

Package: pipewire-pulse
Priority: optional
Provides: audio-daemon
`,
			req:     Request{Packages: []string{"app"}},
			want:    []string{"app=1.0", "pipewire-pulse=1.0", "sound=1.0"},
			virtual: []VirtualChoice{{Name: "audio-daemon", Provider: "pipewire-pulse", RequiredBy: []string{"app"}}},
		},
		{
			name: "a version broken by the selection is passed over",
			universe: `
Package: app
Depends: tool, libfoo

Package: tool
Breaks: libfoo (>= 2)

Package: libfoo
Version: 2.0

Package: libfoo
Version: 1.0
`,
			req:  Request{Packages: []string{"app"}},
			want: []string{"app=1.0", "libfoo=1.0", "tool=1.0"},
		},
		{
			name: "Provides and Conflicts the same virtual: only one provider",
			universe: `
Package: app
Depends: awk
Conflicts: awk (<< 2)

Package: mawk
Provides: awk
Conflicts: awk

Package: gawk
Provides: awk
Conflicts: awk
`,
			req:     Request{Packages: []string{"app"}},
			want:    []string{"app=1.0", "gawk=1.0"},
			virtual: []VirtualChoice{{Name: "awk", Provider: "gawk", RequiredBy: []string{"app"}}},
		},
	}
	for _, tt := range tests {
		for kind, u := range universes(t, "amd64", tt.universe) {
			t.Run(tt.name+"/"+kind, func(t *testing.T) {
				res, err := u.Resolve(tt.req)
				if err != nil {
					t.Fatalf("Resolve: %v", err)
				}
				if got := names(res.Packages); !slices.Equal(got, tt.want) {
					t.Errorf("Packages = %q\nwant       %q", got, tt.want)
				}
				if !reflect.DeepEqual(res.Excluded, tt.excluded) {
					t.Errorf("Excluded = %+v, want %+v", res.Excluded, tt.excluded)
				}
				if !reflect.DeepEqual(res.Virtual, tt.virtual) {
					t.Errorf("Virtual = %+v, want %+v", res.Virtual, tt.virtual)
				}
			})
		}
	}
}

func TestResolveErrors(t *testing.T) {
	tests := []struct {
		name     string
		universe string
		req      Request
		is       error
		want     string
	}{
		{
			name: "unknown requested name with suggestions",
			universe: `
Package: libssl3

Package: libssl-dev

Package: libsl
`,
			req:  Request{Packages: []string{"libsl3"}},
			is:   ErrNoSuchPackage,
			want: "apt: no such package: libsl3 for amd64 (did you mean libsl, libssl3?)",
		},
		{
			name:     "several unknown names are all reported",
			universe: awkUniverse,
			req:      Request{Packages: []string{"nope", "mawk", "zzz-tool"}},
			is:       ErrNoSuchPackage,
			want:     "apt: no such package: nope for amd64\napt: no such package: zzz-tool for amd64",
		},
		{
			name: "only an older version exists",
			universe: `
Package: app
Depends: libfoo (>= 2.0)

Package: libfoo
Version: 1.4-1
`,
			req:  Request{Packages: []string{"app"}},
			is:   ErrUnsatisfiable,
			want: "cannot satisfy app -> libfoo (>= 2.0): only libfoo 1.4-1 is available",
		},
		{
			name: "the chain goes through intermediate packages",
			universe: `
Package: app
Depends: mid

Package: mid
Depends: libfoo (>= 2:0)

Package: libfoo
Version: 1.4-1

Package: libfoo
Version: 1:1.3-1
`,
			req:  Request{Packages: []string{"app"}},
			is:   ErrUnsatisfiable,
			want: "cannot satisfy app -> mid -> libfoo (>= 2:0): only libfoo 1:1.3-1, 1.4-1 are available",
		},
		{
			name: "missing dependency",
			universe: `
Package: app
Depends: libmissing
`,
			req:  Request{Packages: []string{"app"}},
			is:   ErrUnsatisfiable,
			want: "cannot satisfy app -> libmissing: no package libmissing is available for amd64",
		},
		{
			name: "two dependencies disagree",
			universe: `
Package: app
Depends: alpha, beta

Package: alpha
Depends: libfoo (<< 2)

Package: beta
Depends: libfoo (>= 2)

Package: libfoo
Version: 2.0

Package: libfoo
Version: 1.0
`,
			req:  Request{Packages: []string{"app"}},
			is:   ErrUnsatisfiable,
			want: "cannot satisfy app -> alpha -> libfoo (<< 2): conflicts with app -> beta -> libfoo (>= 2)",
		},
		{
			name: "a pin rules out what a dependency needs",
			universe: `
Package: app
Depends: libfoo (>= 2.0)

Package: libfoo
Version: 2.0

Package: libfoo
Version: 1.0
`,
			req:  Request{Packages: []string{"app", "libfoo=1.0"}},
			is:   ErrUnsatisfiable,
			want: "cannot satisfy app -> libfoo (>= 2.0): conflicts with the request libfoo=1.0",
		},
		{
			name: "pinned version does not exist",
			universe: `
Package: libfoo
Version: 2.0

Package: libfoo
Version: 1.0
`,
			req:  Request{Packages: []string{"libfoo=3.0"}},
			is:   ErrUnsatisfiable,
			want: "cannot satisfy libfoo (= 3.0): only libfoo 2.0, 1.0 are available",
		},
		{
			name: "every alternative fails",
			universe: `
Package: app
Depends: libold (>= 2) | libgone

Package: libold
`,
			req:  Request{Packages: []string{"app"}},
			is:   ErrUnsatisfiable,
			want: "cannot satisfy app -> libold (>= 2) | libgone: only libold 1.0 is available; no package libgone is available for amd64",
		},
		{
			name:     "versioned relation on a virtual with unversioned providers",
			universe: awkUniverse + "\nPackage: app\nDepends: awk (>= 2)\n",
			req:      Request{Packages: []string{"app"}},
			is:       ErrUnsatisfiable,
			want:     "cannot satisfy app -> awk (>= 2): virtual package awk is provided by gawk, mawk, original-awk, none of which matches",
		},
		{
			name:     "every provider excluded",
			universe: awkUniverse,
			req:      Request{Packages: []string{"base-files"}, Exclude: []string{"mawk", "gawk", "original-awk"}},
			is:       ErrUnsatisfiable,
			want:     "cannot satisfy base-files -> awk: no provider of awk can be installed: gawk is excluded; mawk is excluded; original-awk is excluded",
		},
		{
			name: "foreign architecture qualifier",
			universe: `
Package: app
Depends: libc6:i386

Package: libc6
`,
			req:  Request{Packages: []string{"app"}},
			is:   ErrUnsatisfiable,
			want: "cannot satisfy app -> libc6:i386: libc6:i386 cannot be installed on amd64",
		},
		{
			name:     "requested and excluded",
			universe: awkUniverse,
			req:      Request{Packages: []string{"mawk"}, Exclude: []string{"mawk"}},
			is:       ErrInvalidRequest,
			want:     "apt: invalid resolve request: mawk is both requested and excluded",
		},
		{
			name:     "malformed pin",
			universe: awkUniverse,
			req:      Request{Packages: []string{"mawk=latest"}},
			is:       ErrInvalidRequest,
			want:     `apt: invalid resolve request: mawk=latest: deb: invalid version "latest": upstream version does not start with a digit`,
		},
		{
			name:     "two pins for one name",
			universe: awkUniverse,
			req:      Request{Packages: []string{"mawk=1.3.4-3", "mawk=1.3.4-2"}},
			is:       ErrInvalidRequest,
			want:     "apt: invalid resolve request: mawk is pinned to both 1.3.4-3 and 1.3.4-2",
		},
		{
			name:     "malformed exclude",
			universe: awkUniverse,
			req:      Request{Packages: []string{"mawk"}, Exclude: []string{"Not A Name"}},
			is:       ErrInvalidRequest,
			want:     `apt: invalid resolve request: invalid excluded name "Not A Name"`,
		},
		{
			name: "malformed Depends of a selected package",
			universe: `
Package: app
Depends: libfoo (>> )
`,
			req:  Request{Packages: []string{"app"}},
			is:   ErrInvalidPackage,
			want: `apt: invalid package stanza: package app=1.0: Depends: parsing relation "libfoo (>> )": deb: invalid relationship: version of libfoo: deb: invalid version: empty version`,
		},
		{
			name: "Conflicts",
			universe: `
Package: app
Depends: libbar, libqux

Package: libbar
Conflicts: libbaz (<< 3)

Package: libqux
Depends: libbaz

Package: libbaz
Version: 2.0
`,
			req:  Request{Packages: []string{"app"}},
			is:   ErrConflict,
			want: "libbar 1.0 conflicts with libbaz (<< 3), but libbaz 2.0 is also selected (app -> libbar; app -> libqux -> libbaz)",
		},
		{
			name: "Breaks",
			universe: `
Package: app
Depends: libbaz
Breaks: libbaz (<< 3)

Package: libbaz
Version: 2.0
`,
			req:  Request{Packages: []string{"app"}},
			is:   ErrConflict,
			want: "app 1.0 breaks libbaz (<< 3), but libbaz 2.0 is also selected (app; app -> libbaz)",
		},
		{
			name: "two providers of a virtual that allows only one",
			universe: `
Package: mawk
Provides: awk
Conflicts: awk

Package: gawk
Version: 1:5.2.1-2
Provides: awk
Conflicts: awk
`,
			req:  Request{Packages: []string{"mawk", "gawk"}},
			is:   ErrConflict,
			want: "gawk 1:5.2.1-2 conflicts with awk, but mawk 1.0 (providing awk) is also selected (gawk; mawk)",
		},
	}
	for _, tt := range tests {
		for kind, u := range universes(t, "amd64", tt.universe) {
			t.Run(tt.name+"/"+kind, func(t *testing.T) {
				res, err := u.Resolve(tt.req)
				if err == nil {
					t.Fatalf("Resolve = %q, want error", names(res.Packages))
				}
				if !errors.Is(err, tt.is) {
					t.Errorf("err = %v, want errors.Is %v", err, tt.is)
				}
				if err.Error() != tt.want {
					t.Errorf("err =\n%s\nwant\n%s", err, tt.want)
				}
			})
		}
	}
}

func TestResolveErrorDetails(t *testing.T) {
	u := NewUniverse("amd64", testPackages(t, `
Package: app
Depends: mid, libbar

Package: mid
Depends: libfoo (>= 2.0)

Package: libfoo
Version: 1.4-1

Package: libbar
Conflicts: libbaz

Package: libbaz
`))
	_, err := u.Resolve(Request{Packages: []string{"app"}})
	var ue *UnsatisfiableError
	if !errors.As(err, &ue) {
		t.Fatalf("err = %v, want *UnsatisfiableError", err)
	}
	want := &UnsatisfiableError{Chain: []string{"app", "mid"}, Relation: "libfoo (>= 2.0)", Reason: "only libfoo 1.4-1 is available"}
	if !reflect.DeepEqual(ue, want) {
		t.Errorf("UnsatisfiableError = %+v, want %+v", ue, want)
	}

	_, err = u.Resolve(Request{Packages: []string{"libbaz", "libbar"}})
	var ce *ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want *ConflictError", err)
	}
	wantC := &ConflictError{
		Package: "libbar", Version: "1.0", Field: "Conflicts", Relation: "libbaz",
		Other: "libbaz", OtherVersion: "1.0", Chain: []string{"libbar"}, OtherChain: []string{"libbaz"},
	}
	if !reflect.DeepEqual(ce, wantC) {
		t.Errorf("ConflictError = %+v, want %+v", ce, wantC)
	}
}

func TestNewUniverse(t *testing.T) {
	repo := func(name, text string) []*Package {
		pkgs := testPackages(t, text)
		for _, p := range pkgs {
			p.Repository = name
		}
		return pkgs
	}
	main := repo("main", `
Package: libfoo
Version: 1.0

Package: libfoo
Version: 2.0
Architecture: arm64

Package: tool
Version: 1.0
Architecture: all
`)
	security := repo("security", `
Package: libfoo
Version: 1.0

Package: libfoo
Version: 0:1.1
`)
	tests := []struct {
		name  string
		arch  string
		lists [][]*Package
		want  []string // name=version@repository
	}{
		{"earlier repository wins identical versions", "amd64", [][]*Package{main, security}, []string{"libfoo=1.1@security", "tool=1.0@main"}},
		{"order of repositories decides ties", "amd64", [][]*Package{security, main}, []string{"libfoo=1.1@security", "tool=1.0@main"}},
		{"other architectures are ignored", "arm64", [][]*Package{main, security}, []string{"libfoo=2.0@main", "tool=1.0@main"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := NewUniverse(tt.arch, tt.lists...)
			if u.Arch() != tt.arch {
				t.Errorf("Arch = %q", u.Arch())
			}
			res, err := u.Resolve(Request{Packages: []string{"libfoo", "tool"}})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range res.Packages {
				got = append(got, p.Name+"="+p.Version.String()+"@"+p.Repository)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}

	// With the newer version removed from consideration by a pin, the tie between repositories shows.
	for _, order := range [][][]*Package{{main, security}, {security, main}} {
		u := NewUniverse("amd64", order...)
		res, err := u.Resolve(Request{Packages: []string{"libfoo=1.0"}})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := res.Packages[0].Repository, order[0][0].Repository; got != want {
			t.Errorf("libfoo 1.0 from %q, want the first repository added, %q", got, want)
		}
	}
}

// bookworm is the real bookworm excerpt, with the security suite listed first as apt sources usually
// have it.
func bookworm(t testing.TB) (main, security []*Package) {
	main = readPackages(t, "testdata/resolve/bookworm-main.Packages")
	security = readPackages(t, "testdata/resolve/bookworm-security.Packages")
	for _, p := range main {
		p.Repository = "bookworm"
	}
	for _, p := range security {
		p.Repository = "bookworm-security"
	}
	return main, security
}

func TestResolveBookworm(t *testing.T) {
	main, security := bookworm(t)
	u := NewUniverse("amd64", security, main)
	res, err := u.Resolve(Request{
		Packages: []string{"base-files", "ca-certificates", "tzdata", "libc6"},
		Exclude:  []string{"debconf", "debconf-2.0"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range res.Packages {
		got = append(got, p.String()+"@"+p.Repository)
	}
	want := []string{
		"base-files=12.4+deb12u15/amd64@bookworm",
		"ca-certificates=20250419~deb12u2/all@bookworm-security",
		"gcc-12-base=12.2.0-14+deb12u1/amd64@bookworm",
		"libc6=2.36-9+deb12u14/amd64@bookworm", // the point release is newer than the security upload
		"libgcc-s1=12.2.0-14+deb12u1/amd64@bookworm",
		"libssl3=3.0.22-1~deb12u2/amd64@bookworm-security",
		"mawk=1.3.4.20200120-3.1/amd64@bookworm",
		"openssl=3.0.22-1~deb12u2/amd64@bookworm-security",
		"tzdata=2026f-0+deb12u1/all@bookworm-security",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	wantX := []Exclusion{{Name: "debconf", RequiredBy: []string{"ca-certificates", "tzdata"}}}
	if !reflect.DeepEqual(res.Excluded, wantX) {
		t.Errorf("Excluded = %+v, want %+v", res.Excluded, wantX)
	}
}

func TestResolveDeterministic(t *testing.T) {
	main, security := bookworm(t)
	req := Request{Packages: []string{"bash", "ca-certificates", "base-files", "tzdata", "gawk"}, Exclude: []string{"debconf-2.0"}}
	render := func(res *Resolution) string {
		return fmt.Sprintf("%v %+v %+v", names(res.Packages), res.Excluded, res.Virtual)
	}
	first, err := NewUniverse("amd64", security, main).Resolve(req)
	if err != nil {
		t.Fatal(err)
	}
	want := render(first)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 20 {
		m, s := slices.Clone(main), slices.Clone(security)
		rng.Shuffle(len(m), func(i, j int) { m[i], m[j] = m[j], m[i] })
		rng.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
		r := Request{Packages: slices.Clone(req.Packages), Exclude: slices.Clone(req.Exclude)}
		rng.Shuffle(len(r.Packages), func(i, j int) { r.Packages[i], r.Packages[j] = r.Packages[j], r.Packages[i] })
		res, err := NewUniverse("amd64", s, m).Resolve(r)
		if err != nil {
			t.Fatal(err)
		}
		if got := render(res); got != want {
			t.Fatalf("shuffle %d:\n got %s\nwant %s", i, got, want)
		}
	}
}

func TestResolveConcurrent(t *testing.T) {
	// One build resolves every architecture at once; "all" packages are shared by those universes and
	// parse their relations lazily. Run with -race.
	main, security := bookworm(t)
	universes := []*Universe{NewUniverse("amd64", security, main), NewUniverse("arm64", security, main)}
	want := map[string]int{"amd64": 9, "arm64": 1} // the excerpt holds amd64 and all packages only
	var wg sync.WaitGroup
	for range 4 {
		for _, u := range universes {
			wg.Go(func() {
				res, err := u.Resolve(Request{Packages: []string{"tzdata"}, Exclude: []string{"debconf"}})
				if u.Arch() == "arm64" {
					if err != nil || len(res.Packages) != want["arm64"] {
						t.Errorf("arm64: %v, %v", res, err)
					}
					return
				}
				res, err = u.Resolve(Request{Packages: []string{"base-files", "ca-certificates", "tzdata"}, Exclude: []string{"debconf"}})
				if err != nil || len(res.Packages) != want["amd64"] {
					t.Errorf("amd64: %v, %v", res, err)
				}
			})
		}
	}
	wg.Wait()
}

// syntheticUniverse builds n packages shaped like a Debian archive: most depend on libc6, a few other
// libraries (often versioned), sometimes through alternatives or virtual names; some names have two
// versions. It returns the packages and a request whose closure is about 200 packages.
func syntheticUniverse(tb testing.TB, n int) ([]*Package, Request) {
	tb.Helper()
	rng := rand.New(rand.NewPCG(42, 7))
	var b strings.Builder
	stanza := func(name, version, fields string) {
		sum := sha256.Sum256([]byte(name + version))
		fmt.Fprintf(&b, "Package: %s\nVersion: %s\nArchitecture: amd64\nPriority: optional\n%sFilename: pool/main/%s_%s.deb\nSize: 1000\nSHA256: %x\n\n",
			name, version, fields, name, version, sum)
	}
	stanza("libc6", "2.36-9+deb12u7", "Provides: libc-abi (= 2.36)\n")
	for i := 1; i < n; i++ {
		var deps []string
		deps = append(deps, "libc6 (>= 2.34)")
		// Like an archive, dependencies point at lower indexes with a strong bias towards the lowest
		// ones, the widely used libraries, so closures stay in the hundreds.
		for range rng.IntN(5) {
			u := rng.Float64()
			j := 1 + int(float64(i-1)*u*u*u)
			if j >= i {
				continue
			}
			switch rng.IntN(6) {
			case 0:
				deps = append(deps, fmt.Sprintf("pkg%05d (>= 1.0) | pkg%05d", j, j+1))
			case 1:
				deps = append(deps, fmt.Sprintf("virt%05d", j))
			default:
				deps = append(deps, fmt.Sprintf("pkg%05d (>= 1.0-1)", j))
			}
		}
		fields := "Depends: " + strings.Join(deps, ", ") + "\nProvides: virt" + fmt.Sprintf("%05d", i) + "\n"
		name := fmt.Sprintf("pkg%05d", i)
		stanza(name, "2.0-1", fields)
		if i%10 == 0 {
			stanza(name, "1.0-1", fields)
		}
	}
	pkgs := make([]*Package, 0, n+n/10)
	err := deb.ReadParagraphs(strings.NewReader(b.String()), func(p deb.Paragraph) error {
		pkg, err := ParsePackage(p)
		pkgs = append(pkgs, pkg)
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	var req Request
	for i := range 15 {
		req.Packages = append(req.Packages, fmt.Sprintf("pkg%05d", n-1-i*1000))
	}
	return pkgs, req
}

func BenchmarkResolve(b *testing.B) {
	pkgs, req := syntheticUniverse(b, 60000)
	u := NewUniverse("amd64", pkgs)
	res, err := u.Resolve(req)
	if err != nil {
		b.Fatal(err)
	}
	if len(res.Packages) < 150 {
		b.Fatalf("closure of %d packages is too small to measure", len(res.Packages))
	}
	for b.Loop() { // b.Loop excludes the setup above from the timing
		if _, err := u.Resolve(req); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(res.Packages)), "pkgs/op")
}

func BenchmarkNewUniverse(b *testing.B) {
	pkgs, _ := syntheticUniverse(b, 60000)
	for b.Loop() {
		NewUniverse("amd64", pkgs)
	}
}
