package spec

import (
	"bytes"
	"encoding/json"
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
		{"base without tag", minimal + "base: example.com/img\n", "base: \"example.com/img\" must name a tag or a digest"},
		{"base bad tag", minimal + "base: example.com/img:bad~tag\n", "base: \"example.com/img:bad~tag\" is not an image reference"},
		{"bad env", minimal + "env: {\"1X\": y}\n", "env.1X: is not a valid"},
		{"relative workdir", minimal + "workdir: app\n", "workdir: \"app\" must be an absolute path"},
		{"bad signal", minimal + "stop-signal: SIGFOO\n", "stop-signal: \"SIGFOO\""},
		{"unknown run-as", minimal + "accounts: {run-as: ghost}\n", "accounts.run-as: \"ghost\" is neither"},
		{"duplicate uid", minimal + "accounts: {users: [{name: a, uid: 10, gid: 10}, {name: b, uid: 10, gid: 10}]}\n", "accounts.users[1].uid: 10 is used twice"},
		{"root redefined", minimal + "accounts: {users: [{name: root, uid: 10, gid: 10}]}\n", "\"root\" is defined twice"},
		{"layers", minimal + "layers: 200\n", "layers: 200 is outside"},
		{"fail-on", minimal + "evidence: {fail-on: severe}\n", "evidence.fail-on: \"severe\""},
		{"unknown-as", minimal + "evidence: {unknown-as: none}\n", "evidence.unknown-as: \"none\" is not a level"},
		{"require-data", minimal + "evidence: {require-data: maybe}\n", "`maybe` into bool"},
		{"profile", minimal + "evidence: {profile: lax}\n", "evidence.profile: \"lax\""},
		{"waiver without reason", minimal + "evidence: {waivers: [{rule: INGOT-H001, reason: \" \"}]}\n", "evidence.waivers[0]: a waiver needs"},
		{"allow without scope", minimal + "evidence: {allow-secrets: [{reason: ok}]}\n", "evidence.allow-secrets[0]"},

		// Values past what file systems and registries hold fail here, not after a lock was written.
		{"name too long", strings.Replace(minimal, "name: static", "name: "+strings.Repeat("a", 5000), 1), "name: \"" + strings.Repeat("a", 80) + "...\" is 5000 characters long, more than 128"},
		{"name one too long", strings.Replace(minimal, "name: static", "name: "+strings.Repeat("a", 129), 1), "more than 128"},
		{"tag with plus", minimal + "version: 1.0+deb1\n", "version: \"1.0+deb1\" is not a valid image tag"},
		{"tag starting with a dot", minimal + "version: .1\n", "version: \".1\" is not a valid image tag"},
		{"tag too long", minimal + "version: " + strings.Repeat("1", 129) + "\n", "version: "},
		{"bad pin", strings.Replace(minimal, "tzdata]", "tzdata=1:x y]", 1), "packages[1]: \"1:x y\" is not a Debian version"},
		{"file path with NUL", minimal + "files: [{source: a, path: \"/a\\0b\"}]\n", `files[0].path: "/a\x00b" contains a NUL byte`},
		{"file path component too long", minimal + "files: [{source: a, path: /" + strings.Repeat("x", 256) + "}]\n", "files[0].path: has a component of 256 bytes"},
		{"file path too long", minimal + "files: [{source: a, path: " + strings.Repeat("/abcdefgh", 512) + "}]\n", "files[0].path: is 4608 bytes long"},
		{"file path dotdot", minimal + "files: [{source: a, path: /etc/../../x}]\n", "files[0].path: \"/etc/../../x\" must not contain '..'"},
		{"file path root", minimal + "files: [{source: a, path: /./}]\n", "files[0].path: cannot be the root directory"},
		{"empty source", minimal + "files: [{source: \"\", path: /a}]\n", "files[0].source: is required"},
		{"source with NUL", minimal + "files: [{source: \"a\\0\", path: /a}]\n", `files[0].source: "a\x00" contains a NUL byte`},
		{"huge uid", minimal + "files: [{source: a, path: /a, uid: 4294967295}]\n", "files[0]: uid and gid must be between 0 and 4294967294"},
		{"negative gid", minimal + "paths: [{path: /a, type: directory, gid: -1}]\n", "paths[0]: uid and gid must be between 0 and 4294967294"},
		{"paths path too long", minimal + "paths: [{path: /" + strings.Repeat("x", 300) + ", type: directory}]\n", "paths[0].path: has a component of 300 bytes"},
		{"symlink target with NUL", minimal + "paths: [{path: /a, type: symlink, target: \"b\\0\"}]\n", `paths[0].target: "b\x00" contains a NUL byte`},
		{"symlink target too long", minimal + "paths: [{path: /a, type: symlink, target: ../" + strings.Repeat("y", 256) + "}]\n", "paths[0].target: has a component of 256 bytes"},
		{"workdir with NUL", minimal + "workdir: \"/a\\0\"\n", `workdir: "/a\x00" contains a NUL byte`},
		{"entrypoint with NUL", minimal + "entrypoint: [/bin/app, \"a\\0b\"]\n", "entrypoint[1]: contains a NUL byte"},
		{"cmd with NUL", minimal + "cmd: [\"\\0\"]\n", "cmd[0]: contains a NUL byte"},
		{"empty label key", minimal + "labels: {\"\": x}\n", "labels: a label needs a non-empty key"},
		{"empty annotation key", minimal + "annotations: {\"\": x}\n", "annotations: an annotation needs a non-empty key"},
		{"base that does not parse", minimal + "base: \"Bad Host/img@sha256:" + strings.Repeat("0", 64) + "\"\n", "base: \"Bad Host/img@sha256:"},
		{"home with colon", minimal + "accounts: {users: [{name: a, uid: 10, gid: 10, home: \"/h:x\"}]}\n", "accounts.users[0].home: \"/h:x\" must not contain ':'"},
		{"shell with newline", minimal + "accounts: {users: [{name: a, uid: 10, gid: 10, shell: \"/bin/sh\\nroot::0:0::/:/bin/sh\"}]}\n", "accounts.users[0].shell: "},
		{"relative shell", minimal + "accounts: {users: [{name: a, uid: 10, gid: 10, shell: sh}]}\n", "accounts.users[0].shell: \"sh\" must be absolute"},
		{"bad group member", minimal + "accounts: {groups: [{name: g, gid: 10, members: [\"a,b\"]}]}\n", "accounts.groups[0].members[0]: \"a,b\" is not a valid user name"},
		{"suite with a space", strings.Replace(minimal, "suite: bookworm", "suite: \"book worm\"", 1), "repositories[0].suite: \"book worm\" is not a suite name"},
		{"suite too long", strings.Replace(minimal, "suite: bookworm", "suite: "+strings.Repeat("s", 256), 1), "repositories[0].suite: "},
		{"host suite with a newline", "name: x\nrepositories: [{host: true, suites: [\"a\\nb\"]}]\npackages: [a1]\n", "repositories[0].suites[0]: "},
		{"component with a space", strings.Replace(minimal, "suite: bookworm", "suite: bookworm\n    components: [\"ma in\"]", 1), "repositories[0].components[0]: \"ma in\" is not a component name"},
		{"url without host", strings.Replace(minimal, "http://127.0.0.1:1/debian", "http:///debian", 1), "repositories[0].url: \"http:///debian\" has no host"},
		{"keyring with NUL", strings.Replace(minimal, "keyring: /usr/share/keyrings/debian-archive-keyring.gpg", "keyring: \"k\\0\"", 1), "repositories[0].keyring: contains a NUL byte"},
		{"empty tests", minimal + "evidence: {tests: \"\\0\"}\n", "evidence.tests: "},
		{"empty vex", minimal + "evidence: {vex: [a.json, \"\"]}\n", "evidence.vex[1]: is required"},
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

// TestEvidenceLevels: unknown is a level wherever one is taken.
func TestEvidenceLevels(t *testing.T) {
	for _, ev := range []string{"{fail-on: unknown}", "{fail-on: none, unknown-as: unknown}", "{fail-on: high, unknown-as: low, require-data: true}"} {
		s, err := Parse([]byte(minimal + "evidence: " + ev + "\n"))
		if err != nil {
			t.Errorf("evidence %s: %v", ev, err)
			continue
		}
		if strings.Contains(ev, "require-data") && !s.Evidence.RequireData {
			t.Errorf("evidence %s: require-data not read", ev)
		}
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

// TestAtTheLimits accepts the longest values Validate allows: the limits are those of file systems and
// registries, not tighter.
func TestAtTheLimits(t *testing.T) {
	body := strings.Replace(minimal, "name: static", "name: "+strings.Repeat("a", MaxNameLength), 1) +
		"version: _" + strings.Repeat("V", 127) + "\n" +
		"files: [{source: a, path: /" + strings.Repeat("f", 255) + "/b}]\n" +
		"paths: [{path: /usr/bin/app, type: symlink, target: ../local/bin/app, uid: 4294967294}]\n"
	if _, err := Parse([]byte(body)); err != nil {
		t.Error(err)
	}
}

// TestSchemaMatchesValidate keeps the JSON schema's rules for name and version the ones Validate
// applies, so an editor accepts exactly what ingot accepts.
func TestSchemaMatchesValidate(t *testing.T) {
	var schema struct {
		Properties map[string]struct {
			Pattern   string `json:"pattern"`
			MaxLength int    `json:"maxLength"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(Schema(), &schema); err != nil {
		t.Fatal(err)
	}
	if got := schema.Properties["name"]; got.Pattern != imageName.String() || got.MaxLength != MaxNameLength {
		t.Errorf("schema name = %+v, want pattern %s and maxLength %d", got, imageName, MaxNameLength)
	}
	if got := schema.Properties["version"]; got.Pattern != tagName.String() {
		t.Errorf("schema version pattern = %q, want %s", got.Pattern, tagName)
	}
}

// TestBaseTagOrDigest: a base is a tag (which the lock pins and continuous rebuild watches) or a
// digest; BaseTag tells them apart.
func TestBaseTagOrDigest(t *testing.T) {
	for _, tc := range []struct {
		base string
		tag  bool
	}{
		{"example.com/img:1", true},
		{"localhost:5000/team/img:bookworm-slim", true},
		{"example.com/img@sha256:" + strings.Repeat("a", 64), false},
	} {
		s, err := Parse([]byte(minimal + "base: " + tc.base + "\n"))
		if err != nil {
			t.Errorf("base %s: %v", tc.base, err)
			continue
		}
		if s.BaseTag() != tc.tag {
			t.Errorf("base %s: BaseTag() = %v, want %v", tc.base, s.BaseTag(), tc.tag)
		}
	}
}
