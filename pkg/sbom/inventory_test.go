package sbom

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ingot-build/ingot/pkg/evidence"
)

// line is what an inventory test checks of a package: its URL, the index of its layer and its locations.
func line(p evidence.Package, layers []v1.Layer) string {
	idx := -1
	for i, l := range layers {
		if h, err := l.DiffID(); err == nil && h.String() == p.Layer {
			idx = i
		}
	}
	s := fmt.Sprintf("%s L%d %s %s", p.PURL, idx, p.Ecosystem, strings.Join(p.Locations, ","))
	if p.Type == evidence.TypeDeb && len(p.Licenses) > 0 {
		s += fmt.Sprintf(" %v", p.Licenses)
	}
	return s
}

func TestInventory(t *testing.T) {
	statusD := "var/lib/dpkg/status.d/"
	debianRelease := []tfile{
		file("usr/lib/os-release", fixture(t, "os-release/debian")),
		symlink("etc/os-release", "../usr/lib/os-release"),
	}
	tests := []struct {
		name    string
		layers  [][]tfile
		want    []string
		distro  string // ID-VERSION_ID
		skipped []string
	}{
		{
			name: "alpine",
			layers: [][]tfile{{
				file("etc/os-release", fixture(t, "os-release/alpine")),
				file("lib/apk/db/installed", fixture(t, "apk/installed")),
			}},
			distro: "alpine-3.19.1",
			want: []string{
				"pkg:apk/alpine/busybox-binsh@1.36.1-r15?arch=x86_64&distro=alpine-3.19.1&upstream=busybox L0 Alpine:v3.19 /lib/apk/db/installed",
				"pkg:apk/alpine/libcrypto3@3.1.4-r5?arch=x86_64&distro=alpine-3.19.1&upstream=openssl L0 Alpine:v3.19 /lib/apk/db/installed",
				"pkg:apk/alpine/musl@1.2.4_git20230717-r4?arch=x86_64&distro=alpine-3.19.1 L0 Alpine:v3.19 /lib/apk/db/installed",
				"pkg:apk/alpine/scanelf@1.3.7-r2?arch=x86_64&distro=alpine-3.19.1&upstream=pax-utils L0 Alpine:v3.19 /lib/apk/db/installed",
			},
		},
		{
			name: "dpkg status with md5sums in info/",
			layers: [][]tfile{append(slices.Clone(debianRelease),
				file("var/lib/dpkg/status", fixture(t, "dpkg/status")),
				file("var/lib/dpkg/info/libc6:amd64.md5sums", "x"),
				file("var/lib/dpkg/info/tzdata.md5sums", "x"),
			)},
			distro: "debian-12",
			want: []string{
				"pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12&upstream=glibc L0 Debian:12 /var/lib/dpkg/info/libc6:amd64.md5sums,/var/lib/dpkg/status",
				"pkg:deb/debian/libfoo1@1.0-1%2Bb1?arch=amd64&distro=debian-12&upstream=foo%401.0-1 L0 Debian:12 /var/lib/dpkg/status",
				"pkg:deb/debian/tzdata@2024a-0%2Bdeb12u1?arch=all&distro=debian-12 L0 Debian:12 /var/lib/dpkg/info/tzdata.md5sums,/var/lib/dpkg/status",
				"pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?arch=amd64&distro=debian-12&upstream=zlib L0 Debian:12 /var/lib/dpkg/status",
			},
		},
		{
			name: "status.d: a whiteout deletes a package, a rewrite moves it to the later layer",
			layers: [][]tfile{
				append(slices.Clone(debianRelease),
					file(statusD+"base-files", fixture(t, "dpkg/distroless")),
					file(statusD+"base-files.md5sums", "x"),
					file(statusD+"tzdata", "Package: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\n"),
					file(statusD+"libc6", "Package: libc6\nVersion: 2.36-9+deb12u4\nArchitecture: amd64\nSource: glibc\n"),
				),
				{whiteout(statusD + "libc6")},
				{file(statusD+"tzdata", "Package: tzdata\nVersion: 2024b-0+deb12u1\nArchitecture: all\n")},
			},
			distro: "debian-12",
			want: []string{
				"pkg:deb/debian/base-files@12.4%2Bdeb12u5?arch=amd64&distro=debian-12 L0 Debian:12 /var/lib/dpkg/status.d/base-files,/var/lib/dpkg/status.d/base-files.md5sums",
				"pkg:deb/debian/tzdata@2024b-0%2Bdeb12u1?arch=all&distro=debian-12 L2 Debian:12 /var/lib/dpkg/status.d/tzdata",
			},
		},
		{
			name: "licenses from copyright files; a deleted copyright file takes its licenses along",
			layers: [][]tfile{
				append(slices.Clone(debianRelease),
					file(statusD+"a", "Package: a\nVersion: 1\nArchitecture: amd64\n"),
					file(statusD+"b", "Package: b\nVersion: 2\nArchitecture: all\n"),
					file("usr/share/doc/a/copyright", fixture(t, "copyright/dep5")),
					file("usr/share/doc/b/copyright", fixture(t, "copyright/prose")),
				),
				{whiteout("usr/share/doc/b")},
			},
			distro: "debian-12",
			want: []string{
				"pkg:deb/debian/a@1?arch=amd64&distro=debian-12 L0 Debian:12 /usr/share/doc/a/copyright,/var/lib/dpkg/status.d/a " +
					"[Artistic-1.0 BSD-3-Clause GPL-2.0-or-later LGPL-2.1-only LGPL-2.1-or-later MIT]",
				"pkg:deb/debian/b@2?arch=all&distro=debian-12 L0 Debian:12 /var/lib/dpkg/status.d/b",
			},
		},
		{
			name: "a later os-release wins; a deleted one does not count",
			layers: [][]tfile{
				{file("etc/os-release", fixture(t, "os-release/alpine")), file(statusD+"a", "Package: a\nVersion: 1\nArchitecture: amd64\n")},
				{whiteout("etc/os-release"), file("usr/lib/os-release", fixture(t, "os-release/debian"))},
			},
			distro: "debian-12",
			want:   []string{"pkg:deb/debian/a@1?arch=amd64&distro=debian-12 L0 Debian:12 /var/lib/dpkg/status.d/a"},
		},
		{
			name: "no os-release: debian namespace, no distro qualifier",
			layers: [][]tfile{
				{file(statusD+"a", "Package: a\nVersion: 1\nArchitecture: amd64\n")},
			},
			want: []string{"pkg:deb/debian/a@1?arch=amd64 L0 Debian /var/lib/dpkg/status.d/a"},
		},
		{
			name: "python: whiteout of a dist-info directory, opaque site-packages",
			layers: [][]tfile{
				{
					dir("usr/lib/python3/dist-packages/requests-2.31.0.dist-info"),
					file("usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA", fixture(t, "python/requests-2.31.0.dist-info/METADATA")),
					file("usr/lib/python3/dist-packages/six.egg-info/PKG-INFO", fixture(t, "python/six.egg-info/PKG-INFO")),
					file("opt/venv/lib/python3.11/site-packages/typing_extensions-4.12.2.dist-info/METADATA", fixture(t, "python/Typing_Extensions.METADATA")),
					file("opt/venv/lib/python3.11/site-packages/wordy-1.0.dist-info/METADATA", fixture(t, "python/long-license.METADATA")),
				},
				{whiteout("usr/lib/python3/dist-packages/requests-2.31.0.dist-info")},
				{opaque("opt/venv/lib/python3.11/site-packages"), file("opt/venv/lib/python3.11/site-packages/wordy-1.0.dist-info/METADATA", fixture(t, "python/long-license.METADATA"))},
			},
			want: []string{
				"pkg:pypi/six@1.16.0 L0 PyPI /usr/lib/python3/dist-packages/six.egg-info/PKG-INFO",
				"pkg:pypi/wordy@1.0 L2 PyPI /opt/venv/lib/python3.11/site-packages/wordy-1.0.dist-info/METADATA",
			},
		},
		{
			name: "npm: package.json and lockfile merge; a file over node_modules hides it",
			layers: [][]tfile{
				{
					file("app/package-lock.json", fixture(t, "npm/lock-v3/package-lock.json")),
					file("app/node_modules/express/package.json", `{"name":"express","version":"4.18.2","license":"MIT"}`),
					file("app/node_modules/@types/node/package.json", `{"name":"@types/node","version":"20.10.0","license":"MIT"}`),
					file("srv/node_modules/left-pad/package.json", `{"name":"left-pad","version":"1.3.0","license":"WTFPL"}`),
				},
				{file("srv/node_modules", "not a directory any more")},
			},
			want: []string{
				"pkg:npm/%40types/node@20.10.0 L0 npm /app/node_modules/@types/node/package.json,/app/package-lock.json",
				"pkg:npm/debug@2.6.9 L0 npm /app/package-lock.json",
				"pkg:npm/express@4.18.2 L0 npm /app/node_modules/express/package.json,/app/package-lock.json",
				"pkg:npm/real-name@1.2.3 L0 npm /app/package-lock.json",
			},
		},
		{
			name: "malformed evidence is skipped and reported, unless a later layer replaced it",
			layers: [][]tfile{
				{
					file("a/node_modules/broken/package.json", `{"name":`),
					file("b/node_modules/fixed/package.json", `{"name":`),
					file("c/node_modules/ok/package.json", `{"name":"ok","version":"1.0.0"}`),
				},
				{file("b/node_modules/fixed/package.json", `{"name":"fixed","version":"2.0.0"}`)},
			},
			want: []string{
				"pkg:npm/fixed@2.0.0 L1 npm /b/node_modules/fixed/package.json",
				"pkg:npm/ok@1.0.0 L0 npm /c/node_modules/ok/package.json",
			},
			skipped: []string{"/a/node_modules/broken/package.json"},
		},
		{
			name: "root opaque marker hides every lower layer",
			layers: [][]tfile{
				{file("lib/apk/db/installed", fixture(t, "apk/installed"))},
				{opaque(".")},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var layers []v1.Layer
			for _, files := range tt.layers {
				layers = append(layers, layerOf(t, files...))
			}
			var skipped []string
			inv, err := Inventory(context.Background(), imageOf(t, layers...), Options{
				Ref:     "test:1",
				Skipped: func(p string, err error) { skipped = append(skipped, p) },
			})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range inv.Packages {
				got = append(got, line(p, layers))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("packages:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if d := distroQualifier(inv.Distro); d != tt.distro {
				t.Errorf("distro = %q, want %q", d, tt.distro)
			}
			if !slices.Equal(skipped, tt.skipped) {
				t.Errorf("skipped = %q, want %q", skipped, tt.skipped)
			}
			if inv.Image.Ref != "test:1" || !strings.HasPrefix(inv.Image.Digest, "sha256:") || inv.Image.Arch != "amd64" {
				t.Errorf("image = %+v", inv.Image)
			}
		})
	}
}

// TestInventoryGoBinary catalogs a real Go binary built from testdata/gobin: the main module, the
// golang.org/x/sync it links at the version this module requires, and the toolchain as stdlib.
func TestInventoryGoBinary(t *testing.T) {
	bin := goBinary(t)
	img := imageOf(t,
		layerOf(t, fileBytes("usr/local/bin/gobin", bin), file("usr/lib/libfake.so", "\x7fELF"+strings.Repeat("\x00", 100))),
		layerOf(t, fileBytes("opt/gobin-copy", bin)),
	)
	inv, err := Inventory(context.Background(), img, Options{})
	if err != nil {
		t.Fatal(err)
	}
	syncVersion := goList(t, "golang.org/x/sync")
	goVersion := strings.TrimPrefix(runtime.Version(), "go")
	locs := "/opt/gobin-copy,/usr/local/bin/gobin"
	want := []string{
		"pkg:golang/github.com/ingot-build/ingot L1 Go " + locs,
		"pkg:golang/golang.org/x/sync@" + syncVersion + " L1 Go " + locs,
		"pkg:golang/stdlib@" + goVersion + " L1 Go " + locs,
	}
	var got []string
	layers, _ := img.Layers()
	for _, p := range inv.Packages {
		got = append(got, line(p, layers))
	}
	if !slices.Equal(got, want) {
		t.Errorf("packages:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestGoPackages(t *testing.T) {
	tests := []struct {
		name string
		bi   debug.BuildInfo
		want []string
	}{
		{
			name: "devel main, replaced and local-replaced deps, boringcrypto toolchain",
			bi: debug.BuildInfo{
				GoVersion: "go1.22.1 X:boringcrypto",
				Main:      debug.Module{Path: "example.com/app", Version: "(devel)"},
				Deps: []*debug.Module{
					{Path: "golang.org/x/net", Version: "v0.17.0"},
					{Path: "github.com/old/lib", Version: "v1.0.0", Replace: &debug.Module{Path: "github.com/fork/lib", Version: "v1.0.1-fix"}},
					{Path: "example.com/local", Version: "v0.0.0", Replace: &debug.Module{Path: "../local"}},
				},
			},
			want: []string{
				"golang example.com/app  arch= src=@ lic=",
				"golang golang.org/x/net v0.17.0 arch= src=@ lic=",
				"golang github.com/fork/lib v1.0.1-fix arch= src=@ lic=",
				"golang example.com/local  arch= src=@ lic=",
				"golang stdlib 1.22.1 arch= src=@ lic=BSD-3-Clause",
			},
		},
		{
			name: "tagged main",
			bi:   debug.BuildInfo{GoVersion: "go1.21.0", Main: debug.Module{Path: "example.com/tool", Version: "v2.3.4"}},
			want: []string{"golang example.com/tool v2.3.4 arch= src=@ lic=", "golang stdlib 1.21.0 arch= src=@ lic=BSD-3-Clause"},
		},
	}
	for _, tt := range tests {
		var got []string
		for _, p := range goPackages(&tt.bi) {
			got = append(got, summary(p))
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s:\n%s\nwant:\n%s", tt.name, strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
		}
	}
}

// TestInventoryCancel stops on a cancelled context instead of reading on.
func TestInventoryCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	img := imageOf(t, layerOf(t, file("lib/apk/db/installed", fixture(t, "apk/installed"))))
	if _, err := Inventory(ctx, img, Options{}); err == nil {
		t.Fatal("Inventory ignored a cancelled context")
	}
}
