package apt_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ingot-build/ingot/pkg/apt"
)

func TestParseRelease(t *testing.T) {
	const sha = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
	fixture := func(name string) string {
		b, err := os.ReadFile(filepath.Join("testdata", "release", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	tests := []struct {
		name    string
		text    string
		wantErr error
		check   func(t *testing.T, r *apt.Release)
	}{
		{
			name: "debian stable",
			text: fixture("debian-like.Release"),
			check: func(t *testing.T, r *apt.Release) {
				if r.Origin != "Debian" || r.Suite != "stable" || r.Codename != "bookworm" || r.Version != "12.11" {
					t.Errorf("fields: %+v", r)
				}
				if want := time.Date(2025, 5, 17, 8, 56, 39, 0, time.UTC); !r.Date.Equal(want) {
					t.Errorf("Date = %v, want %v", r.Date, want)
				}
				if !r.ValidUntil.IsZero() {
					t.Errorf("ValidUntil = %v, want zero", r.ValidUntil)
				}
				if !r.AcquireByHash {
					t.Error("AcquireByHash = false")
				}
				if !slices.Equal(r.Components, []string{"main", "contrib", "non-free-firmware", "non-free"}) {
					t.Errorf("Components = %q", r.Components)
				}
				if len(r.Architectures) != 10 || r.Architectures[1] != "amd64" {
					t.Errorf("Architectures = %q", r.Architectures)
				}
				if len(r.Files) != 6 {
					t.Errorf("%d files, want the 6 of the SHA256 section", len(r.Files))
				}
				want := apt.IndexFile{Path: "main/binary-amd64/Packages.xz", Size: 1762916, SHA256: sha}
				if got := r.Files[want.Path]; got != want {
					t.Errorf("Files[%s] = %+v, want %+v", want.Path, got, want)
				}
			},
		},
		{
			name: "security with Valid-Until and numeric zone",
			text: fixture("security-like.Release"),
			check: func(t *testing.T, r *apt.Release) {
				if want := time.Date(2025, 6, 10, 16, 12, 3, 0, time.UTC); !r.ValidUntil.Equal(want) {
					t.Errorf("ValidUntil = %v, want %v", r.ValidUntil, want)
				}
				if _, ok := r.Files["updates/main/binary-amd64/Packages.xz"]; !ok {
					t.Errorf("Files = %v", r.Files)
				}
			},
		},
		{
			name: "uppercase hash is normalised",
			text: "Suite: s\nSHA256:\n " + strings.ToUpper(sha) + " 1 main/binary-amd64/Packages\n",
			check: func(t *testing.T, r *apt.Release) {
				if got := r.Files["main/binary-amd64/Packages"].SHA256; got != sha {
					t.Errorf("SHA256 = %s", got)
				}
			},
		},
		{name: "only MD5Sum", text: "Suite: s\nMD5Sum:\n 0ed6d4c8891eb86358b94bb35d9e4da4 1 main/binary-amd64/Packages\n", wantErr: apt.ErrMalformed},
		{name: "short hash", text: "SHA256:\n abc 1 main/binary-amd64/Packages\n", wantErr: apt.ErrMalformed},
		{name: "negative size", text: "SHA256:\n " + sha + " -1 main/binary-amd64/Packages\n", wantErr: apt.ErrMalformed},
		{name: "escaping path", text: "SHA256:\n " + sha + " 1 ../../etc/passwd\n", wantErr: apt.ErrMalformed},
		{name: "absolute path", text: "SHA256:\n " + sha + " 1 /etc/passwd\n", wantErr: apt.ErrMalformed},
		{name: "duplicate path", text: "SHA256:\n " + sha + " 1 a/Packages\n " + sha + " 1 a/Packages\n", wantErr: apt.ErrMalformed},
		{name: "missing field in line", text: "SHA256:\n " + sha + " main/binary-amd64/Packages\n", wantErr: apt.ErrMalformed},
		{name: "bad date", text: "Date: yesterday\nSHA256:\n " + sha + " 1 a/Packages\n", wantErr: apt.ErrMalformed},
		{name: "named zone other than UTC", text: "Date: Sat, 17 May 2025 08:56:39 CEST\nSHA256:\n " + sha + " 1 a/Packages\n", wantErr: apt.ErrMalformed},
		{name: "two paragraphs", text: "Suite: a\n\nSuite: b\nSHA256:\n " + sha + " 1 a/Packages\n", wantErr: apt.ErrMalformed},
		{name: "duplicate field", text: "Suite: a\nSuite: b\nSHA256:\n " + sha + " 1 a/Packages\n", wantErr: apt.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := apt.ParseRelease([]byte(tt.text))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, r)
		})
	}
}

// FuzzParseRelease feeds the Release parser arbitrary text. Release text is only parsed after its
// signature is verified, but a signed Release from a compromised or careless archive is still untrusted.
func FuzzParseRelease(f *testing.F) {
	for _, name := range []string{"debian-like.Release", "security-like.Release"} {
		b, err := os.ReadFile(filepath.Join("testdata", "release", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := apt.ParseRelease(data)
		if err != nil {
			if !errors.Is(err, apt.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		for p, f := range r.Files {
			if p != f.Path || f.Size < 0 || len(f.SHA256) != 64 || slices.Contains(strings.Split(p, "/"), "..") || strings.HasPrefix(p, "/") {
				t.Fatalf("accepted bad entry %q: %+v", p, f)
			}
		}
	})
}
