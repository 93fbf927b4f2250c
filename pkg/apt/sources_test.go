package apt_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ingot-build/ingot/pkg/apt"
)

func TestHostSourcesIn(t *testing.T) {
	root := filepath.Join("testdata", "host")
	trusted := []string{
		filepath.Join(root, "etc/apt/trusted.gpg.d/a-archive.gpg"),
		filepath.Join(root, "etc/apt/trusted.gpg.d/b-vendor.asc"),
	}
	debianKeyring := filepath.Join(root, "usr/share/keyrings/debian-archive-keyring.gpg")
	want := []apt.Source{
		{ // sources.list line 2, merged with local.list line 2; no Signed-By: trusted.gpg.d
			Name: "http://archive.example/debian bookworm", URL: "http://archive.example/debian", Suite: "bookworm",
			Components: []string{"main", "contrib", "non-free"}, Keyrings: trusted,
		},
		{ // sources.list, with [options] and a trailing slash
			Name: "https://vendor.example/apt stable", URL: "https://vendor.example/apt", Suite: "stable",
			Components: []string{"main"}, Keyring: filepath.Join(root, "usr/share/keyrings/vendor.gpg"),
		},
		{ // debian.sources: one stanza, two suites; the disabled and deb-src-only stanzas are skipped
			Name: "http://archive.example/debian bookworm-updates", URL: "http://archive.example/debian", Suite: "bookworm-updates",
			Components: []string{"main", "non-free-firmware"}, Keyring: debianKeyring,
		},
		{
			Name: "http://archive.example/debian bookworm-backports", URL: "http://archive.example/debian", Suite: "bookworm-backports",
			Components: []string{"main", "non-free-firmware"}, Keyring: debianKeyring,
		},
		{ // local.list: apt's file:/path spelling
			Name: "file:///srv/local-repo local", URL: "file:///srv/local-repo", Suite: "local",
			Components: []string{"main"}, Keyrings: trusted,
		},
	}
	got, err := apt.HostSourcesIn(root)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("HostSourcesIn:\n got %+v\nwant %+v", got, want)
	}

	if _, err := apt.HostSourcesIn(t.TempDir()); !errors.Is(err, apt.ErrSource) {
		t.Errorf("empty root: err = %v, want ErrSource", err)
	}
}

func TestHostSourcesFiles(t *testing.T) {
	file := func(name string) string { return filepath.Join("testdata", "sources", name) }
	tests := []struct {
		name    string
		files   []string
		want    []apt.Source
		wantErr error
		errText string
	}{
		{
			name:  "several URIs and suites, several keyrings",
			files: []string{file("multi.sources")},
			want: []apt.Source{
				{Name: "https://one.example/debian stable", URL: "https://one.example/debian", Suite: "stable", Components: []string{"main"}, Keyring: "/k/one.gpg", Keyrings: []string{"/k/two.asc"}},
				{Name: "https://one.example/debian testing", URL: "https://one.example/debian", Suite: "testing", Components: []string{"main"}, Keyring: "/k/one.gpg", Keyrings: []string{"/k/two.asc"}},
				{Name: "https://two.example/debian stable", URL: "https://two.example/debian", Suite: "stable", Components: []string{"main"}, Keyring: "/k/one.gpg", Keyrings: []string{"/k/two.asc"}},
				{Name: "https://two.example/debian testing", URL: "https://two.example/debian", Suite: "testing", Components: []string{"main"}, Keyring: "/k/one.gpg", Keyrings: []string{"/k/two.asc"}},
			},
		},
		{name: "inline key block", files: []string{file("inline-key.sources")}, wantErr: apt.ErrSource, errText: "inline key"},
		{name: "fingerprint", files: []string{file("fingerprint.sources")}, wantErr: apt.ErrSource, errText: "fingerprint"},
		{name: "flat repository", files: []string{file("flat.list")}, wantErr: apt.ErrSource, errText: "flat"},
		{name: "ftp", files: []string{file("ftp.list")}, wantErr: apt.ErrSource, errText: "scheme"},
		{name: "same suite, different keyrings", files: []string{file("conflict.list")}, wantErr: apt.ErrSource, errText: "different keyrings"},
		{name: "no Types", files: []string{file("no-types.sources")}, wantErr: apt.ErrSource, errText: "Types"},
		{name: "missing file", files: []string{file("nope.list")}, wantErr: fs.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := apt.HostSources(tt.files...)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.errText) {
					t.Fatalf("err = %v, want %v saying %q", err, tt.wantErr, tt.errText)
				}
				if !strings.Contains(err.Error(), filepath.Base(tt.files[0])) {
					t.Errorf("err = %v, want it to name the file", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestSourceValidate(t *testing.T) {
	ok := apt.Source{URL: "https://archive.example/debian", Suite: "bookworm", Keyring: "/k.gpg"}
	tests := []struct {
		name   string
		change func(*apt.Source)
		field  string // the error must name it; "" means valid
	}{
		{name: "valid", change: func(*apt.Source) {}},
		{name: "file url", change: func(s *apt.Source) { s.URL = "file:///srv/repo" }},
		{name: "suite with slash", change: func(s *apt.Source) { s.Suite = "stable/updates" }},
		{name: "relative file url", change: func(s *apt.Source) { s.URL = "file:srv/repo" }, field: "url"},
		{name: "no host", change: func(s *apt.Source) { s.URL = "https:///debian" }, field: "url"},
		{name: "query", change: func(s *apt.Source) { s.URL = "https://a.example/?x=1" }, field: "url"},
		{name: "flat suite", change: func(s *apt.Source) { s.Suite = "./" }, field: "suite"},
		{name: "escaping suite", change: func(s *apt.Source) { s.Suite = "../../etc" }, field: "suite"},
		{name: "escaping component", change: func(s *apt.Source) { s.Components = []string{"main/../.."} }, field: "component"},
		{name: "no keyring", change: func(s *apt.Source) { s.Keyring = "" }, field: "keyring"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ok
			tt.change(&s)
			err := s.WithDefaults().Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, apt.ErrSource) || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("err = %v, want ErrSource naming %s", err, tt.field)
			}
		})
	}
}

func TestSourceURLFor(t *testing.T) {
	s := apt.Source{URL: "https://archive.example/debian/"}
	tests := []struct{ rel, want string }{
		{"pool/main/g/gcc-12/libstdc++6_12.2.0-14_amd64.deb", "https://archive.example/debian/pool/main/g/gcc-12/libstdc++6_12.2.0-14_amd64.deb"},
		{"pool/main/x/x/x_1.0~rc1_amd64.deb", "https://archive.example/debian/pool/main/x/x/x_1.0~rc1_amd64.deb"},
		{"pool/main/odd/a b#c?.deb", "https://archive.example/debian/pool/main/odd/a%20b%23c%3F.deb"},
	}
	for _, tt := range tests {
		if got := s.URLFor(tt.rel); got != tt.want {
			t.Errorf("URLFor(%q) = %q, want %q", tt.rel, got, tt.want)
		}
	}
}

// TestHostMirror runs the client against the host's real apt configuration and mirror. It is opt-in
// (INGOT_TEST_HOST_MIRROR=1) because it leaves the loopback interface.
func TestHostMirror(t *testing.T) {
	if os.Getenv("INGOT_TEST_HOST_MIRROR") != "1" {
		t.Skip("set INGOT_TEST_HOST_MIRROR=1 to test against the host's configured apt mirror")
	}
	srcs, err := apt.HostSources()
	if err != nil {
		t.Fatal(err)
	}
	if len(srcs) == 0 {
		t.Fatal("the host has no apt sources")
	}
	arch := map[string]string{"386": "i386", "arm": "armhf", "ppc64le": "ppc64el"}[runtime.GOARCH]
	if arch == "" {
		arch = runtime.GOARCH
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cache := &apt.Cache{Dir: t.TempDir()}
	c := &apt.Client{Cache: cache}
	for _, src := range srcs {
		t.Run(src.Name, func(t *testing.T) {
			rel, err := c.Release(ctx, src)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s %s %s, signed by %s, %s", rel.Origin, rel.Suite, rel.Version, rel.Signer, rel.Digest)
			idx, pkgs, err := c.Packages(ctx, src, rel, src.Components[0], arch)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %d packages", idx.Path, len(pkgs))
			if len(pkgs) == 0 {
				return // an updates suite can be empty
			}
			small := pkgs[0]
			for _, p := range pkgs {
				if p.Size < small.Size {
					small = p
				}
			}
			dl := apt.Download{Name: small.String(), URL: src.URLFor(small.Filename), Size: small.Size, SHA256: small.SHA256}
			if err := cache.Fetch(ctx, []apt.Download{dl}, apt.FetchOptions{}); err != nil {
				t.Fatal(err)
			}
			if _, err := cache.ReadVerified(small.SHA256); err != nil {
				t.Fatal(err)
			}
		})
	}
}
