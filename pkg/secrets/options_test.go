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
	}
	for _, tt := range tests {
		if got := matchGlob(tt.pattern, tt.name); got != tt.want {
			t.Errorf("matchGlob(%q, %q) = %v, want %v", tt.pattern, tt.name, got, tt.want)
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
