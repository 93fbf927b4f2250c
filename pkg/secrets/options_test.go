package secrets

import "testing"

func TestMatchGlob(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"usr/share/doc/**", "/usr/share/doc/app/README", true},
		{"usr/share/doc/**", "usr/share/doc", true},
		{"usr/share/doc/**", "usr/share/docs/x", false},
		{"/app/*.env", "app/.env", true},
		{"/app/*.env", "app/sub/.env", false},
		{"**/.env", "app/sub/.env", true},
		{"**/.env", ".env", true},
		{"**/site-packages/**/tests/**", "usr/lib/python3/dist-packages/x/tests/a.py", false},
		{"**/site-packages/**/tests/**", "usr/local/lib/python3.12/site-packages/jwt/tests/keys/a.pem", true},
		{"**/site-packages/**/tests/**", "usr/local/lib/python3.12/site-packages/tests/a.py", true},
		{"usr/lib/python3*/test/**", "usr/lib/python3.11/test/keycert.pem", true},
		{"ENV:AWS_*", "ENV:AWS_SECRET_ACCESS_KEY", true},
		{"ENV:AWS_*", "ENV:GITHUB_TOKEN", false},
		{"history[[]*]", "history[3]", true},
		{"**", "anything/at/all", true},
		{"etc/**/*.yaml", "etc/app/config.yaml", true},
		{"etc/**/*.yaml", "etc/config.yaml", true},
		{"**/{site-packages,node_modules}/**/{test,fixtures}/**", "app/node_modules/jwt/test/key.pem", true},
		{"**/{site-packages,node_modules}/**/{test,fixtures}/**", "usr/lib/python3/site-packages/a/fixtures/b", true},
		{"**/{site-packages,node_modules}/**/{test,fixtures}/**", "app/test/node_modules/x.js", false},
		{"{a,b}/c", "b/c", true},
		{"{a,b}/c", "ab/c", false},
	}
	for _, tt := range tests {
		if got := matchGlob(tt.pattern, tt.name); got != tt.want {
			t.Errorf("matchGlob(%q, %q) = %v, want %v", tt.pattern, tt.name, got, tt.want)
		}
	}
}

func TestDefaultSkipPaths(t *testing.T) {
	s := &imageScan{}
	for _, p := range DefaultSkipPaths() {
		if err := checkGlob(p); err != nil {
			t.Fatal(err)
		}
		s.skip = append(s.skip, compileGlob(p))
	}
	for name, want := range map[string]bool{
		"usr/share/doc/libssl3/changelog.Debian":                                 true,
		"usr/local/share/man/man1/app.1":                                         true,
		"etc/ssl/certs/ca-certificates.crt":                                      true,
		"usr/local/lib/python3.12/site-packages/jwt/tests/keys/testkey_rsa.priv": true,
		"usr/lib/node_modules/npm/node_modules/agent/test/fixtures/key.pem":      true,
		"app/vendor/github.com/x/y/testdata/key.pem":                             true,
		"root/go/pkg/mod/github.com/x/y@v1.0.0/keys.go":                          true,
		"usr/local/lib/python3.12/test/certdata/keycert.pem":                     true,
		"usr/local/go/src/crypto/tls/testdata/example-key.pem":                   true,
		"usr/lib/python3/dist-packages/PyJWT-2.6.0.egg-info/PKG-INFO":            true,
		"usr/bin/app.png": true,
		// An application's own files, tests included, are read.
		"app/tests/.env":             false,
		"app/config/settings.py":     false,
		"etc/ssl/private/server.key": false,
		"usr/local/lib/python3.12/site-packages/app/settings.py": false,
		"home/app/.docker/config.json":                           false,
	} {
		if got := s.skipped(name); got != want {
			t.Errorf("skipped(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestAllowMatches(t *testing.T) {
	a := Allow{Rule: RuleJWT, Path: "app/**", Reason: "x"}
	for _, tt := range []struct {
		rule, path string
		want       bool
	}{
		{RuleJWT, "/app/token", true},
		{RuleGeneric, "/app/token", false},
		{RuleJWT, "/etc/token", false},
	} {
		if got := a.Matches(tt.rule, tt.path); got != tt.want {
			t.Errorf("Matches(%q, %q) = %v", tt.rule, tt.path, got)
		}
	}
}
