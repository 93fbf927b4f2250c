package spec

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const minimal = `
name: static
repositories:
  - url: http://127.0.0.1:1/debian
    suite: bookworm
    keyring: /usr/share/keyrings/debian-archive-keyring.gpg
packages: [base-files, tzdata]
`

func TestParseDefaults(t *testing.T) {
	s, err := Parse([]byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s.Archs, ","); got != "amd64" {
		t.Errorf("archs = %q, want amd64", got)
	}
	if s.Layers != 1 {
		t.Errorf("layers = %d, want 1", s.Layers)
	}
	if s.Accounts.RunAs != "nonroot" || s.Accounts.Users[0].UID != 65532 || s.Accounts.Users[0].Home != "/home/nonroot" {
		t.Errorf("default accounts = %+v", s.Accounts)
	}
	if got := strings.Join(s.Repositories[0].Components, ","); got != "main" {
		t.Errorf("components = %q, want main", got)
	}
	if s.Tag() != "latest" {
		t.Errorf("tag = %q", s.Tag())
	}
}

func TestParseFull(t *testing.T) {
	s, err := Load(filepath.Join("testdata", "full.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Files[0].Mode == nil || *s.Files[0].Mode != 0o755 {
		t.Errorf("files[0].mode = %v, want 0755", s.Files[0].Mode)
	}
	if *s.Paths[0].Mode != 0o1777 {
		t.Errorf("paths[0].mode = %o, want 1777", *s.Paths[0].Mode)
	}
	if *s.Paths[2].Mode != 0o700 {
		t.Errorf("paths[2].mode = %o, want 700 (YAML integer octal)", *s.Paths[2].Mode)
	}
	if !filepath.IsAbs(s.Dir) {
		t.Errorf("Dir = %q, want absolute", s.Dir)
	}
	if s.Accounts.RunAs != "app" || s.Env["TZ"] != "UTC" || s.StopSignal != "SIGINT" {
		t.Errorf("unexpected decode: %+v", s)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"unknown field", minimal + "pacakges: [x]\n", "field pacakges not found"},
		{"nested unknown field", strings.Replace(minimal, "suite:", "suit: x\n    suite:", 1), "field suit not found"},
		{"two documents", minimal + "---\nname: other\n", "exactly one YAML document"},
		{"empty", "", "empty"},
		{"no name", strings.Replace(minimal, "name: static", "", 1), "name: is required"},
		{"bad name", strings.Replace(minimal, "name: static", "name: Static!", 1), "name: \"Static!\""},
		{"bad package", strings.Replace(minimal, "tzdata]", "Tz_Data]", 1), "packages[1]: \"Tz_Data\" is not a Debian package name"},
		{"duplicate package", strings.Replace(minimal, "tzdata]", "tzdata, tzdata]", 1), "packages[2]: \"tzdata\" is listed twice"},
		{"empty pin", strings.Replace(minimal, "tzdata]", "tzdata=]", 1), "empty version"},
		{"requested and excluded", minimal + "exclude: [tzdata]\n", "both requested and excluded"},
		{"no keyring", strings.Replace(minimal, "    keyring: /usr/share/keyrings/debian-archive-keyring.gpg\n", "", 1), "repositories[0].keyring: is required"},
		{"bad scheme", strings.Replace(minimal, "http://127.0.0.1:1/debian", "ftp://x/debian", 1), "must be http, https or file"},
		{"host with url", "name: x\nrepositories: [{host: true, url: http://x}]\npackages: [a1]\n", "repositories[0]: host: true takes"},
		{"no repositories", "name: x\npackages: [a1]\n", "repositories: packages need"},
		{"bad arch", minimal + "archs: [amd64, s390x]\n", "archs[1]: \"s390x\" is not supported"},
		{"dup arch", minimal + "archs: [amd64, amd64]\n", "archs[1]: \"amd64\" is listed twice"},
		{"bad mode", minimal + "files: [{source: a, path: /a, mode: \"0999\"}]\n", "not an octal permission"},
		{"relative file path", minimal + "files: [{source: a, path: a}]\n", "files[0].path: \"a\" must be an absolute path"},
		{"dotdot path", minimal + "paths: [{path: /a/../etc, type: directory}]\n", "must not contain '..'"},
		{"symlink without target", minimal + "paths: [{path: /a, type: symlink}]\n", "paths[0].target: a symlink needs a target"},
		{"unknown path type", minimal + "paths: [{path: /a, type: fifo}]\n", "paths[0].type: \"fifo\" is not one of"},
		{"permissions without mode", minimal + "paths: [{path: /a, type: permissions}]\n", "paths[0].mode: is required"},
		{"base by tag", minimal + "base: example.com/img:latest\n", "base: \"example.com/img:latest\" must be pinned by digest"},
		{"bad env", minimal + "env: {\"1X\": y}\n", "env.1X: is not a valid"},
		{"relative workdir", minimal + "workdir: app\n", "workdir: \"app\" must be an absolute path"},
		{"bad signal", minimal + "stop-signal: SIGFOO\n", "stop-signal: \"SIGFOO\""},
		{"unknown run-as", minimal + "accounts: {run-as: ghost}\n", "accounts.run-as: \"ghost\" is neither"},
		{"duplicate uid", minimal + "accounts: {users: [{name: a, uid: 10, gid: 10}, {name: b, uid: 10, gid: 10}]}\n", "accounts.users[1].uid: 10 is used twice"},
		{"root redefined", minimal + "accounts: {users: [{name: root, uid: 10, gid: 10}]}\n", "\"root\" is defined twice"},
		{"layers", minimal + "layers: 200\n", "layers: 200 is outside"},
		{"fail-on", minimal + "evidence: {fail-on: severe}\n", "evidence.fail-on: \"severe\""},
		{"profile", minimal + "evidence: {profile: lax}\n", "evidence.profile: \"lax\""},
		{"waiver without reason", minimal + "evidence: {waivers: [{rule: INGOT-H001, reason: \" \"}]}\n", "evidence.waivers[0]: a waiver needs"},
		{"allow without scope", minimal + "evidence: {allow-secrets: [{reason: ok}]}\n", "evidence.allow-secrets[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if err == nil {
				t.Fatalf("Parse succeeded, want error containing %q", tc.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestNumericRunAs(t *testing.T) {
	for _, runAs := range []string{"1000", "1000:1000", "nobody", "root"} {
		if _, err := Parse([]byte(minimal + "accounts: {run-as: \"" + runAs + "\"}\n")); err != nil {
			t.Errorf("run-as %q: %v", runAs, err)
		}
	}
}

func TestDigestIgnoresFormatting(t *testing.T) {
	a, err := Parse([]byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Parse([]byte("# comment\n" + strings.ReplaceAll(minimal, "[base-files, tzdata]", "\n  - base-files\n  - tzdata")))
	if err != nil {
		t.Fatal(err)
	}
	if a.Digest() != b.Digest() {
		t.Errorf("digest differs for the same values: %s vs %s", a.Digest(), b.Digest())
	}
	b.Packages = append(b.Packages, "netbase")
	if a.Digest() == b.Digest() {
		t.Error("digest did not change when a package was added")
	}
}

func TestSchemaUpToDate(t *testing.T) {
	t.Chdir(filepath.Join("..", ".."))
	want, err := Reflect("./pkg/spec")
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(filepath.Join("pkg", "spec", "ingot.schema.json"), want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(Schema(), want) {
		t.Error("ingot.schema.json is stale: run go generate ./pkg/spec (or go test ./pkg/spec -update)")
	}
}
