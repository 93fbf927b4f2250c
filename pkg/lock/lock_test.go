package lock

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ingot-build/ingot/pkg/spec"
)

func testSpec(t *testing.T) *spec.Spec {
	t.Helper()
	s, err := spec.Parse([]byte(`
name: t
repositories: [{host: true}]
packages: [base-files, tzdata]
exclude: [awk]
`))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testLock(s *spec.Spec) *Lock {
	return &Lock{
		LockVersion: Version,
		Inputs:      InputsOf(s),
		Archs: map[string]*Contents{"amd64": {Packages: []Package{{
			Name: "tzdata", Version: "2025b-0+deb12u1", Architecture: "all", Source: "tzdata",
			SourceVersion: "2025b-0+deb12u1", Repository: "r", Filename: "pool/main/t/tzdata/tzdata.deb",
			URL: "http://127.0.0.1/pool/main/t/tzdata/tzdata.deb", Size: 10, SHA256: strings.Repeat("a", 64),
		}}, Excluded: []Exclusion{{Name: "awk", RequiredBy: []string{"base-files"}}}}},
	}
}

func TestRoundTrip(t *testing.T) {
	s := testSpec(t)
	l := testLock(s)
	p := filepath.Join(t.TempDir(), "ingot.lock")
	if err := l.Write(p); err != nil {
		t.Fatal(err)
	}
	got, err := Read(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := got.Check(s); err != nil {
		t.Fatalf("fresh lock fails Check: %v", err)
	}
	a, _ := l.Marshal()
	b, _ := got.Marshal()
	if string(a) != string(b) {
		t.Errorf("round trip changed the lock:\n%s\n%s", a, b)
	}
}

func TestCheckStale(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*spec.Spec)
		want   string
	}{
		{"package added", func(s *spec.Spec) { s.Packages = append(s.Packages, "netbase") }, `package "netbase" is in the spec but not the lock`},
		{"package removed", func(s *spec.Spec) { s.Packages = s.Packages[:1] }, `package "tzdata" is in the lock but not the spec`},
		{"pin changed", func(s *spec.Spec) { s.Packages[1] = "tzdata=2024a-1" }, `package "tzdata=2024a-1" is in the spec`},
		{"exclude changed", func(s *spec.Spec) { s.Exclude = nil }, "exclude changed"},
		{"arch added", func(s *spec.Spec) { s.Archs = append(s.Archs, "arm64") }, "archs changed"},
		{"repository changed", func(s *spec.Spec) { s.Repositories[0].Suites = []string{"bookworm"} }, "repositories changed"},
		{"base changed", func(s *spec.Spec) { s.Base = "r@sha256:" + strings.Repeat("b", 64) }, "base changed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := testSpec(t)
			l := testLock(s)
			tc.mutate(s)
			err := l.Check(s)
			if !errors.Is(err, ErrStale) {
				t.Fatalf("Check = %v, want ErrStale", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Check = %q, want %q", err, tc.want)
			}
		})
	}
	t.Run("reordered packages still match", func(t *testing.T) {
		s := testSpec(t)
		l := testLock(s)
		s.Packages[0], s.Packages[1] = s.Packages[1], s.Packages[0]
		if err := l.Check(s); err != nil {
			t.Error(err)
		}
	})
}

func TestParseRejects(t *testing.T) {
	for _, tc := range []struct{ name, data, want string }{
		{"not json", "{", "malformed"},
		{"unknown field", `{"lockVersion":1,"archs":{},"extra":1}`, "unknown field"},
		{"version", `{"lockVersion":9,"archs":{}}`, "lockVersion 9"},
		{"no sha", `{"lockVersion":1,"archs":{"amd64":{"packages":[{"name":"a","url":"http://x","size":1,"sha256":"zz"}]}}}`, "no valid sha256"},
		{"no url", `{"lockVersion":1,"archs":{"amd64":{"packages":[{"name":"a","size":1,"sha256":"` + strings.Repeat("0", 64) + `"}]}}}`, "no URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.data))
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse = %v, want ErrMalformed containing %q", err, tc.want)
			}
		})
	}
}
