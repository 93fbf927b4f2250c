package sbom

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ingot-build/ingot/pkg/evidence"
)

// summary is the reader-level facts of a package, one comparable line.
func summary(p evidence.Package) string {
	return fmt.Sprintf("%s %s %s arch=%s src=%s@%s lic=%s", p.Type, p.Name, p.Version, p.Arch, p.Source, p.SourceVersion, strings.Join(p.Licenses, "|"))
}

func summaries(pkgs []evidence.Package) []string {
	out := make([]string, 0, len(pkgs))
	for _, p := range pkgs {
		out = append(out, summary(p))
	}
	slices.Sort(out)
	return out
}

func TestReaders(t *testing.T) {
	tests := []struct {
		name    string
		c       reader
		file    string // under testdata
		want    []string
		wantErr bool
	}{
		{name: "dpkg status: installed stanzas only, source and binNMU source version", c: debianReader{}, file: "dpkg/status", want: []string{
			"deb libc6 2.36-9+deb12u4 arch=amd64 src=glibc@2.36-9+deb12u4 lic=",
			"deb libfoo1 1.0-1+b1 arch=amd64 src=foo@1.0-1 lic=",
			"deb tzdata 2024a-0+deb12u1 arch=all src=tzdata@2024a-0+deb12u1 lic=",
			"deb zlib1g 1:1.2.13.dfsg-1 arch=amd64 src=zlib@1:1.2.13.dfsg-1 lic=",
		}},
		{name: "status.d file without Status is installed", c: debianReader{}, file: "dpkg/distroless", want: []string{
			"deb base-files 12.4+deb12u5 arch=amd64 src=base-files@12.4+deb12u5 lic=",
		}},
		{name: "dpkg stanza without version", c: debianReader{}, file: "dpkg/no-version", wantErr: true},
		{name: "dpkg syntax error", c: debianReader{}, file: "dpkg/bad-syntax", wantErr: true},
		{name: "apk installed database", c: alpineReader{}, file: "apk/installed", want: []string{
			"apk busybox-binsh 1.36.1-r15 arch=x86_64 src=busybox@1.36.1-r15 lic=GPL-2.0-only",
			"apk libcrypto3 3.1.4-r5 arch=x86_64 src=openssl@3.1.4-r5 lic=Apache-2.0",
			"apk musl 1.2.4_git20230717-r4 arch=x86_64 src=musl@1.2.4_git20230717-r4 lic=MIT",
			"apk scanelf 1.3.7-r2 arch=x86_64 src=pax-utils@1.3.7-r2 lic=GPL-2.0-only MIT",
		}},
		{name: "apk stanza without version", c: alpineReader{}, file: "apk/truncated", wantErr: true},
		{name: "apk garbage", c: alpineReader{}, file: "apk/garbage", wantErr: true},
		{name: "scoped package.json", c: npmReader{}, file: "npm/package.json", want: []string{
			"npm @babel/code-frame 7.23.5 arch= src=@ lic=MIT",
		}},
		{name: "package.json legacy license object", c: npmReader{}, file: "npm/legacy-license.json", want: []string{
			"npm old-thing 0.1.0 arch= src=@ lic=BSD-3-Clause",
		}},
		{name: "package.json licenses array", c: npmReader{}, file: "npm/licenses-array.json", want: []string{
			"npm older-thing 0.0.1 arch= src=@ lic=MIT|Apache-2.0",
		}},
		{name: "package.json without version", c: npmReader{}, file: "npm/no-version.json", wantErr: true},
		{name: "truncated package.json", c: npmReader{}, file: "npm/truncated.json", wantErr: true},
		{name: "lockfile v3: nested, scoped and aliased; no root, dev or link", c: npmReader{}, file: "npm/lock-v3/package-lock.json", want: []string{
			"npm @types/node 20.10.0 arch= src=@ lic=MIT",
			"npm debug 2.6.9 arch= src=@ lic=MIT",
			"npm express 4.18.2 arch= src=@ lic=MIT",
			"npm real-name 1.2.3 arch= src=@ lic=",
		}},
		{name: "lockfile v1: nested dependencies, no dev", c: npmReader{}, file: "npm/lock-v1/package-lock.json", want: []string{
			"npm lodash 4.17.20 arch= src=@ lic=",
			"npm qs 6.5.3 arch= src=@ lic=",
			"npm request 2.88.2 arch= src=@ lic=",
		}},
		{name: "dist-info METADATA: headers only", c: pythonReader{}, file: "python/requests-2.31.0.dist-info/METADATA", want: []string{
			"pypi requests 2.31.0 arch= src=@ lic=Apache 2.0",
		}},
		{name: "egg-info PKG-INFO", c: pythonReader{}, file: "python/six.egg-info/PKG-INFO", want: []string{
			"pypi six 1.16.0 arch= src=@ lic=MIT",
		}},
		{name: "License-Expression wins over License", c: pythonReader{}, file: "python/Typing_Extensions.METADATA", want: []string{
			"pypi Typing_Extensions 4.12.2 arch= src=@ lic=PSF-2.0",
		}},
		{name: "license text is not a license name", c: pythonReader{}, file: "python/long-license.METADATA", want: []string{
			"pypi wordy 1.0 arch= src=@ lic=",
		}},
		{name: "metadata without name", c: pythonReader{}, file: "python/no-name.METADATA", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := os.Open(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			pkgs, err := tt.c.parse(tt.file, f)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("parse = %v, want an error", summaries(pkgs))
				}
				if !errors.Is(err, ErrEvidence) && !strings.Contains(err.Error(), "deb822") {
					t.Errorf("error %v does not say the record is malformed", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := summaries(pkgs); !slices.Equal(got, tt.want) {
				t.Errorf("packages:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestReaderPaths(t *testing.T) {
	tests := []struct {
		c    reader
		path string
		want bool
	}{
		{debianReader{}, "var/lib/dpkg/status", true},
		{debianReader{}, "var/lib/dpkg/status-old", false},
		{debianReader{}, "var/lib/dpkg/status.d/libc6", true},
		{debianReader{}, "var/lib/dpkg/status.d/libc6.md5sums", false},
		{debianReader{}, "var/lib/dpkg/status.d/sub/libc6", false},
		{debianReader{}, "usr/var/lib/dpkg/status", false},
		{alpineReader{}, "lib/apk/db/installed", true},
		{alpineReader{}, "lib/apk/db/installed.old", false},
		{npmReader{}, "usr/lib/node_modules/npm/package.json", true},
		{npmReader{}, "app/node_modules/@babel/core/package.json", true},
		{npmReader{}, "node_modules/a/node_modules/b/package.json", true},
		{npmReader{}, "app/node_modules/a/test/fixtures/package.json", false},
		{npmReader{}, "app/node_modules/@scope/package.json", false},
		{npmReader{}, "app/node_modules/.bin/package.json", false},
		{npmReader{}, "app/package.json", false},
		{npmReader{}, "app/my_node_modules/a/package.json", false},
		{npmReader{}, "app/package-lock.json", true},
		{npmReader{}, "app/node_modules/a/package-lock.json", false},
		{pythonReader{}, "usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA", true},
		{pythonReader{}, "usr/lib/python3/dist-packages/six-1.16.0.dist-info/RECORD", false},
		{pythonReader{}, "usr/lib/python3/dist-packages/six.egg-info/PKG-INFO", true},
		{pythonReader{}, "usr/lib/python3/dist-packages/six-1.16.0.egg-info", true},
		{pythonReader{}, "usr/share/doc/METADATA", false},
	}
	for _, tt := range tests {
		if got := tt.c.wants(tt.path); got != tt.want {
			t.Errorf("%T.wants(%q) = %v, want %v", tt.c, tt.path, got, tt.want)
		}
	}
}

func TestOSRelease(t *testing.T) {
	tests := []struct {
		file string
		want *evidence.Distro
	}{
		{"debian", &evidence.Distro{ID: "debian", VersionID: "12", Codename: "bookworm", Name: "Debian GNU/Linux 12 (bookworm)"}},
		{"alpine", &evidence.Distro{ID: "alpine", VersionID: "3.19.1", Name: "Alpine Linux v3.19"}},
		{"quoted", &evidence.Distro{ID: "ubuntu", VersionID: "22.04", Codename: "jammy", Name: `Ubuntu "Jammy" 22.04.4 LTS`}},
		{"no-id", nil},
	}
	for _, tt := range tests {
		data, err := os.ReadFile(filepath.Join("testdata", "os-release", tt.file))
		if err != nil {
			t.Fatal(err)
		}
		got := parseOSRelease(data)
		if (got == nil) != (tt.want == nil) || (got != nil && *got != *tt.want) {
			t.Errorf("%s: parseOSRelease = %+v, want %+v", tt.file, got, tt.want)
		}
	}
}

func TestMD5SumsOwner(t *testing.T) {
	tests := []struct {
		path, name, arch string
		ok               bool
	}{
		{"var/lib/dpkg/status.d/libc6.md5sums", "libc6", "", true},
		{"var/lib/dpkg/info/libc6:amd64.md5sums", "libc6", "amd64", true},
		{"var/lib/dpkg/info/tzdata.md5sums", "tzdata", "", true},
		{"var/lib/dpkg/info/tzdata.list", "", "", false},
		{"usr/share/foo.md5sums", "", "", false},
	}
	for _, tt := range tests {
		name, arch, ok := md5sumsOwner(tt.path)
		if name != tt.name || arch != tt.arch || ok != tt.ok {
			t.Errorf("md5sumsOwner(%q) = %q, %q, %v; want %q, %q, %v", tt.path, name, arch, ok, tt.name, tt.arch, tt.ok)
		}
	}
}

func TestDebianCopyright(t *testing.T) {
	l, err := loadLicenseList()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		file  string
		names []string
		spdx  []string
	}{
		{"copyright/dep5", []string{"Artistic", "BSD-3-clause", "Expat", "GPL-2+", "LGPL-2.1", "LGPL-2.1+", "public-domain"},
			[]string{"Artistic-1.0", "BSD-3-Clause", "GPL-2.0-or-later", "LGPL-2.1-only", "LGPL-2.1-or-later", "MIT"}},
		{"copyright/prose", []string{"GPL-3"}, []string{"GPL-3.0-only"}},
	}
	for _, tt := range tests {
		names := debianLicenseNames([]byte(fixture(t, tt.file)))
		if !slices.Equal(names, tt.names) {
			t.Errorf("%s: names %q, want %q", tt.file, names, tt.names)
		}
		var ids []string
		for _, n := range names {
			if id, ok := l.spdxFromDebian(n); ok {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		if !slices.Equal(ids, tt.spdx) {
			t.Errorf("%s: SPDX %q, want %q", tt.file, ids, tt.spdx)
		}
	}
	for p, want := range map[string]string{
		"usr/share/doc/libc6/copyright":       "libc6",
		"usr/share/doc/libc6/copyright.gz":    "",
		"usr/share/doc/libc6/extra/copyright": "",
		"usr/share/doc/copyright":             "",
	} {
		if got, _ := copyrightOwner(p); got != want {
			t.Errorf("copyrightOwner(%q) = %q, want %q", p, got, want)
		}
	}
}
