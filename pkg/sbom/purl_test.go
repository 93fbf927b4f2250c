package sbom

import (
	"errors"
	"testing"

	"github.com/ingot-build/ingot/pkg/evidence"
)

func TestPackageURL(t *testing.T) {
	debian := &evidence.Distro{ID: "debian", VersionID: "12"}
	sid := &evidence.Distro{ID: "debian"}
	alpine := &evidence.Distro{ID: "alpine", VersionID: "3.19.1"}
	ubuntu := &evidence.Distro{ID: "ubuntu", VersionID: "22.04"}
	tests := []struct {
		p         evidence.Package
		d         *evidence.Distro
		purl, eco string
	}{
		{evidence.Package{Type: "deb", Name: "libc6", Version: "2.36-9+deb12u4", Arch: "amd64", Source: "glibc", SourceVersion: "2.36-9+deb12u4"}, debian,
			"pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12&upstream=glibc", "Debian:12"},
		{evidence.Package{Type: "deb", Name: "libfoo1", Version: "1.0-1+b1", Arch: "amd64", Source: "foo", SourceVersion: "1.0-1"}, debian,
			"pkg:deb/debian/libfoo1@1.0-1%2Bb1?arch=amd64&distro=debian-12&upstream=foo%401.0-1", "Debian:12"},
		{evidence.Package{Type: "deb", Name: "bash", Version: "5.2-2", Arch: "amd64", Source: "bash", SourceVersion: "5.2-2"}, sid,
			"pkg:deb/debian/bash@5.2-2?arch=amd64&distro=debian", "Debian"},
		{evidence.Package{Type: "deb", Name: "libssl3", Version: "3.0.2-0ubuntu1.15", Arch: "amd64", Source: "openssl", SourceVersion: "3.0.2-0ubuntu1.15"}, ubuntu,
			"pkg:deb/ubuntu/libssl3@3.0.2-0ubuntu1.15?arch=amd64&distro=ubuntu-22.04&upstream=openssl", "Ubuntu:22.04"},
		{evidence.Package{Type: "deb", Name: "zlib1g", Version: "1:1.2.13.dfsg-1", Arch: "amd64", Source: "zlib", SourceVersion: "1:1.2.13.dfsg-1"}, &evidence.Distro{ID: "debian", VersionID: "12.5"},
			"pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?arch=amd64&distro=debian-12.5&upstream=zlib", "Debian:12"},
		{evidence.Package{Type: "apk", Name: "musl", Version: "1.2.4-r2", Arch: "x86_64", Source: "musl"}, alpine,
			"pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&distro=alpine-3.19.1", "Alpine:v3.19"},
		{evidence.Package{Type: "apk", Name: "libcrypto3", Version: "3.1.4-r5", Arch: "x86_64", Source: "openssl"}, &evidence.Distro{ID: "alpine", VersionID: "3.20.0_alpha20240329"},
			"pkg:apk/alpine/libcrypto3@3.1.4-r5?arch=x86_64&distro=alpine-3.20.0_alpha20240329&upstream=openssl", "Alpine:v3.20"},
		{evidence.Package{Type: "golang", Name: "github.com/x/y", Version: "v1.2.3"}, debian, "pkg:golang/github.com/x/y@v1.2.3", "Go"},
		{evidence.Package{Type: "golang", Name: "stdlib", Version: "1.22.1"}, nil, "pkg:golang/stdlib@1.22.1", "Go"},
		{evidence.Package{Type: "golang", Name: "example.com/devel"}, nil, "pkg:golang/example.com/devel", "Go"},
		{evidence.Package{Type: "npm", Name: "@scope/name", Version: "1.0.0"}, nil, "pkg:npm/%40scope/name@1.0.0", "npm"},
		{evidence.Package{Type: "npm", Name: "left-pad", Version: "1.3.0"}, nil, "pkg:npm/left-pad@1.3.0", "npm"},
		{evidence.Package{Type: "pypi", Name: "Typing_Extensions", Version: "4.12.2"}, nil, "pkg:pypi/typing-extensions@4.12.2", "PyPI"},
		{evidence.Package{Type: "pypi", Name: "zope.interface", Version: "6.0"}, nil, "pkg:pypi/zope-interface@6.0", "PyPI"},
	}
	for _, tt := range tests {
		p := tt.p
		finish(&p, tt.d)
		if p.PURL != tt.purl || p.Ecosystem != tt.eco {
			t.Errorf("%s: purl %s, ecosystem %s\nwant %s, %s", tt.p.Name, p.PURL, p.Ecosystem, tt.purl, tt.eco)
		}
	}
}

// TestFromPURL reads package URLs as syft and trivy write them.
func TestFromPURL(t *testing.T) {
	tests := []struct {
		purl    string
		want    evidence.Package
		distro  string
		wantErr error
	}{
		{purl: "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12&upstream=glibc",
			want: evidence.Package{Type: "deb", Name: "libc6", Version: "2.36-9+deb12u4", Arch: "amd64", Source: "glibc", SourceVersion: "2.36-9+deb12u4"}, distro: "debian-12"},
		{purl: "pkg:deb/debian/libfoo1@1.0-1%2Bb1?arch=amd64&upstream=foo%401.0-1&distro=debian-12",
			want: evidence.Package{Type: "deb", Name: "libfoo1", Version: "1.0-1+b1", Arch: "amd64", Source: "foo", SourceVersion: "1.0-1"}, distro: "debian-12"},
		{purl: "pkg:deb/debian/login@4.13%2Bdfsg1-1?arch=amd64&distro=debian-12.5&epoch=1",
			want: evidence.Package{Type: "deb", Name: "login", Version: "1:4.13+dfsg1-1", Arch: "amd64", Source: "login", SourceVersion: "1:4.13+dfsg1-1"}, distro: "debian-12.5"},
		{purl: "pkg:deb/debian/bash@5.2-2",
			want: evidence.Package{Type: "deb", Name: "bash", Version: "5.2-2", Source: "bash", SourceVersion: "5.2-2"}, distro: "debian"},
		{purl: "pkg:apk/alpine/libcrypto3@3.1.4-r5?arch=x86_64&distro=alpine-3.19.1&upstream=openssl",
			want: evidence.Package{Type: "apk", Name: "libcrypto3", Version: "3.1.4-r5", Arch: "x86_64", Source: "openssl", SourceVersion: "3.1.4-r5"}, distro: "alpine-3.19.1"},
		{purl: "pkg:golang/github.com/x/y@v1.2.3", want: evidence.Package{Type: "golang", Name: "github.com/x/y", Version: "v1.2.3"}},
		{purl: "pkg:npm/%40scope/name@1.0.0", want: evidence.Package{Type: "npm", Name: "@scope/name", Version: "1.0.0"}},
		{purl: "pkg:pypi/requests@2.31.0", want: evidence.Package{Type: "pypi", Name: "requests", Version: "2.31.0"}},
		{purl: "pkg:maven/org.apache/commons@1.0", wantErr: ErrUnsupportedType},
		{purl: "libc6@2.36", wantErr: errors.New("any")},
	}
	for _, tt := range tests {
		p, d, err := fromPURL(tt.purl)
		if tt.wantErr != nil {
			if err == nil || (errors.Is(tt.wantErr, ErrUnsupportedType) && !errors.Is(err, ErrUnsupportedType)) {
				t.Errorf("%s: err = %v, want %v", tt.purl, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.purl, err)
			continue
		}
		tt.want.PURL = tt.purl
		if p.Name != tt.want.Name || p.Version != tt.want.Version || p.Type != tt.want.Type || p.Arch != tt.want.Arch ||
			p.Source != tt.want.Source || p.SourceVersion != tt.want.SourceVersion || p.PURL != tt.purl {
			t.Errorf("%s:\n got %+v\nwant %+v", tt.purl, p, tt.want)
		}
		if got := distroQualifier(d); got != tt.distro {
			t.Errorf("%s: distro %q, want %q", tt.purl, got, tt.distro)
		}
	}
}

func TestLicenseExpressions(t *testing.T) {
	l, err := loadLicenseList()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in, want string
		single   bool
		ok       bool
	}{
		{"MIT", "MIT", true, true},
		{"mit", "MIT", true, true},
		{"GPL-2.0+", "GPL-2.0+", true, true},
		{"Apache-2.0 OR MIT", "Apache-2.0 OR MIT", false, true},
		{"(MIT OR Apache-2.0) AND BSD-3-Clause", "(MIT OR Apache-2.0) AND BSD-3-Clause", false, true},
		{"GPL-2.0-or-later WITH Classpath-exception-2.0", "GPL-2.0-or-later WITH Classpath-exception-2.0", false, true},
		{"LicenseRef-proprietary", "LicenseRef-proprietary", false, true},
		{"DocumentRef-other:LicenseRef-x.1", "DocumentRef-other:LicenseRef-x.1", false, true},
		{"mit and bsd-2-clause", "MIT AND BSD-2-Clause", false, true},
		{"Apache 2.0", "", false, false},
		{"GPL2+", "", false, false},
		{"MIT OR", "", false, false},
		{"(MIT", "", false, false},
		{"MIT WITH NotAnException", "", false, false},
		{"LicenseRef-", "", false, false},
		{"", "", false, false},
	}
	for _, tt := range tests {
		got, single, ok := l.expression(tt.in)
		if got != tt.want || single != tt.single || ok != tt.ok {
			t.Errorf("expression(%q) = %q, %v, %v; want %q, %v, %v", tt.in, got, single, ok, tt.want, tt.single, tt.ok)
		}
	}
	for _, tt := range []struct {
		in   []string
		want string
	}{
		{[]string{"GPL-2.0-only MIT"}, "GPL-2.0-only AND MIT"},
		{[]string{"MIT", "(Apache-2.0 OR 0BSD)"}, "MIT AND (Apache-2.0 OR 0BSD)"},
		{[]string{"MIT", "Apache-2.0 OR 0BSD"}, "MIT AND (Apache-2.0 OR 0BSD)"},
		{[]string{"(MIT) AND (0BSD)", "ISC"}, "((MIT) AND (0BSD)) AND ISC"},
	} {
		if got, ok := l.declared(tt.in); !ok || got != tt.want {
			t.Errorf("declared(%q) = %q, %v; want %q", tt.in, got, ok, tt.want)
		}
	}
	if _, ok := l.declared([]string{"MIT", "Apache 2.0"}); ok {
		t.Error("declared accepted a license that is not on the list")
	}
}
