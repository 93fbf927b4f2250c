package harden

import (
	"context"
	"errors"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ingot-build/ingot/pkg/evidence"
)

func byID(fs []evidence.Finding) map[string]evidence.Finding {
	m := map[string]evidence.Finding{}
	for _, f := range fs {
		m[f.ID] = f
	}
	return m
}

func paths(f evidence.Finding) []string {
	var out []string
	for _, l := range f.Locations {
		out = append(out, l.Path)
	}
	return out
}

// secretsFinding stands in for the secrets stage, a separate package: what the rule does with the
// findings it returns is what is tested here.
func secretsFinding(fs ...evidence.Finding) SecretsFunc {
	return func(context.Context, v1.Image) ([]evidence.Finding, error) { return fs, nil }
}

func awsKey(status string) evidence.Finding {
	return evidence.Finding{Kind: evidence.KindSecret, ID: "aws-access-key-id", Severity: evidence.SeverityCritical,
		Status: status, Locations: []evidence.Location{{Path: "/app/.env", Line: 3, Layer: "sha256:1234"}}}
}

// TestLintRules builds a clean image and breaks it one way per case: the broken rule must fail with the
// offending paths, and every other rule must not fail, so each rule is shown to fire and to stay quiet.
func TestLintRules(t *testing.T) {
	tests := []struct {
		name    string
		layers  [][]tf // on top of goodBase
		edit    func(*v1.ConfigFile)
		ann     map[string]string
		secrets SecretsFunc
		// fail is the rule that must fail ("" for none) and where, as location paths.
		fail      string
		wantPaths []string
	}{
		{name: "clean", fail: ""},

		{name: "no user", edit: func(cf *v1.ConfigFile) { cf.Config.User = "" }, fail: RuleRootUser, wantPaths: []string{"config:User"}},
		{name: "user root", edit: func(cf *v1.ConfigFile) { cf.Config.User = "root" }, fail: RuleRootUser, wantPaths: []string{"config:User"}},
		{name: "uid 0", edit: func(cf *v1.ConfigFile) { cf.Config.User = "0" }, fail: RuleRootUser, wantPaths: []string{"config:User"}},
		{name: "uid 0 with group", edit: func(cf *v1.ConfigFile) { cf.Config.User = "0:65532" }, fail: RuleRootUser, wantPaths: []string{"config:User"}},
		{
			name:   "name mapped to uid 0",
			layers: [][]tf{{reg("etc/passwd", 0o644, "admin:x:0:0::/root:/sbin/nologin\nnonroot:x:65532:65532::/home/nonroot:/sbin/nologin\n")}},
			edit:   func(cf *v1.ConfigFile) { cf.Config.User = "admin" },
			fail:   RuleRootUser, wantPaths: []string{"config:User", "/etc/passwd"},
		},
		{name: "name not in passwd", edit: func(cf *v1.ConfigFile) { cf.Config.User = "ghost" }, fail: RuleRootUser, wantPaths: []string{"config:User"}},
		{name: "name of a non-root user", edit: func(cf *v1.ConfigFile) { cf.Config.User = "nonroot:nonroot" }},

		{name: "bin/sh", layers: [][]tf{{dir("bin/", 0o755), reg("bin/sh", 0o755, "sh")}}, fail: RuleShell, wantPaths: []string{"/bin/sh"}},
		{
			name:   "sh symlinked to dash, usrmerged",
			layers: [][]tf{{symlink("bin", "usr/bin"), reg("usr/bin/dash", 0o755, "dash"), symlink("usr/bin/sh", "dash")}},
			fail:   RuleShell, wantPaths: []string{"/usr/bin/dash"},
		},
		{name: "busybox", layers: [][]tf{{dir("bin/", 0o755), reg("bin/busybox", 0o755, "bb"), symlink("bin/sh", "/bin/busybox")}}, fail: RuleShell, wantPaths: []string{"/bin/busybox"}},
		{name: "bash in /usr/local/bin", layers: [][]tf{{reg("usr/local/bin/bash", 0o755, "bash")}}, fail: RuleShell, wantPaths: []string{"/usr/local/bin/bash"}},
		{name: "ssh is not a shell", layers: [][]tf{{reg("usr/bin/ssh", 0o755, "ssh"), reg("usr/bin/fish-completions", 0o755, "")}}},
		{name: "dangling sh", layers: [][]tf{{dir("bin/", 0o755), symlink("bin/sh", "/usr/bin/dash")}}},
		{name: "non-executable sh", layers: [][]tf{{dir("bin/", 0o755), reg("bin/sh", 0o644, "not a program")}}},
		{name: "shell outside PATH dirs", layers: [][]tf{{reg("usr/share/doc/bash", 0o755, "")}}},
		{name: "sh deleted by a later layer", layers: [][]tf{{dir("bin/", 0o755), reg("bin/sh", 0o755, "sh")}, {dir("bin/", 0o755), reg("bin/.wh.sh", 0o644, "")}}},
		{name: "bin made opaque by a later layer", layers: [][]tf{{dir("bin/", 0o755), reg("bin/sh", 0o755, "sh")}, {dir("bin/", 0o755), reg("bin/.wh..wh..opq", 0o644, "")}}},

		{name: "apt-get", layers: [][]tf{{reg("usr/bin/apt-get", 0o755, "apt")}}, fail: RulePackageManager, wantPaths: []string{"/usr/bin/apt-get"}},
		{name: "versioned pip", layers: [][]tf{{reg("usr/local/bin/pip3.11", 0o755, "pip")}}, fail: RulePackageManager, wantPaths: []string{"/usr/local/bin/pip3.11"}},
		{name: "pip module", layers: [][]tf{{dir("usr/lib/python3.11/dist-packages/pip/", 0o755), reg("usr/lib/python3.11/dist-packages/pip/__init__.py", 0o644, "")}}, fail: RulePackageManager, wantPaths: []string{"/usr/lib/python3.11/dist-packages/pip"}},
		{name: "dpkg database without dpkg", layers: [][]tf{{reg("var/lib/dpkg/status", 0o644, "Package: app\n"), reg("usr/bin/pipeline", 0o755, "")}}},

		{name: "setuid file", layers: [][]tf{{owned(reg("usr/bin/su", 0o4755, "su"), 0)}}, fail: RuleSetuid, wantPaths: []string{"/usr/bin/su"}},
		{name: "setgid file", layers: [][]tf{{reg("usr/bin/wall", 0o2755, "wall")}}, fail: RuleSetuid, wantPaths: []string{"/usr/bin/wall"}},
		{name: "setuid hardlink", layers: [][]tf{{reg("usr/bin/su", 0o4755, "su"), hardlink("usr/bin/su2", "usr/bin/su")}}, fail: RuleSetuid, wantPaths: []string{"/usr/bin/su", "/usr/bin/su2"}},
		{name: "setgid directory", layers: [][]tf{{dir("var/mail/", 0o2775)}}},
		{name: "setuid removed by a later layer", layers: [][]tf{{reg("usr/bin/su", 0o4755, "su")}, {reg("usr/bin/su", 0o755, "su")}}},

		{name: "world-writable file", layers: [][]tf{{reg("etc/x", 0o666, "x")}}, fail: RuleWorldWritable, wantPaths: []string{"/etc/x"}},
		{name: "world-writable directory", layers: [][]tf{{dir("srv/data/", 0o777)}}, fail: RuleWorldWritable, wantPaths: []string{"/srv/data"}},
		{name: "world-writable under tmp", layers: [][]tf{{reg("tmp/x", 0o666, ""), dir("var/tmp/", 0o1777), reg("var/tmp/y", 0o666, "")}}},
		{name: "sticky shared directory", layers: [][]tf{{dir("run/lock/", 0o1777)}}},
		{name: "symlinks are 0777", layers: [][]tf{{symlink("etc/mtab", "/proc/mounts")}}},

		{
			name:   "empty password in passwd",
			layers: [][]tf{{reg("etc/passwd", 0o644, "root:x:0:0::/root:/sbin/nologin\nnonroot::65532:65532::/home/nonroot:/sbin/nologin\n")}},
			fail:   RuleEmptyPassword, wantPaths: []string{"/etc/passwd"},
		},
		{
			name:   "empty password in shadow",
			layers: [][]tf{{reg("etc/shadow", 0o640, "root::19000:0:99999:7:::\nnonroot:!:19000::::::\n")}},
			fail:   RuleEmptyPassword, wantPaths: []string{"/etc/shadow"},
		},
		{
			name:   "duplicate uid",
			layers: [][]tf{{reg("etc/passwd", 0o644, "root:x:0:0::/root:/sbin/nologin\nnonroot:x:65532:65532::/home/nonroot:/sbin/nologin\napp:x:65532:65532::/app:/sbin/nologin\n")}},
			fail:   RuleDuplicateID, wantPaths: []string{"/etc/passwd"},
		},
		{
			name:   "duplicate gid",
			layers: [][]tf{{reg("etc/group", 0o644, "root:x:0:\nnonroot:x:65532:\napp:x:65532:\n")}},
			fail:   RuleDuplicateID, wantPaths: []string{"/etc/group"},
		},

		{name: ".git", layers: [][]tf{{dir("app/.git/", 0o755), reg("app/.git/HEAD", 0o644, "ref: refs/heads/main\n"), dir("app/.git/objects/", 0o755)}}, fail: RuleLeftovers, wantPaths: []string{"/app/.git"}},
		{name: ".aws", layers: [][]tf{{dir("root/.aws/", 0o700), reg("root/.aws/config", 0o600, "[default]\n")}}, fail: RuleLeftovers, wantPaths: []string{"/root/.aws"}},
		{name: "ssh private key", layers: [][]tf{{reg("root/.ssh/id_ed25519", 0o600, "key"), reg("root/.ssh/id_ed25519.pub", 0o644, "pub")}}, fail: RuleLeftovers, wantPaths: []string{"/root/.ssh/id_ed25519"}},
		{name: "Dockerfile", layers: [][]tf{{reg("app/Dockerfile", 0o644, "FROM scratch\n")}}, fail: RuleLeftovers, wantPaths: []string{"/app/Dockerfile"}},
		{name: "Containerfile variants", layers: [][]tf{{reg("src/Containerfile", 0o644, ""), reg("src/Dockerfile.dev", 0o644, ""), reg("src/api.Dockerfile", 0o644, "")}}, fail: RuleLeftovers, wantPaths: []string{"/src/Containerfile", "/src/Dockerfile.dev", "/src/api.Dockerfile"}},
		{name: "apt archives", layers: [][]tf{{reg("var/cache/apt/archives/curl_8.0_amd64.deb", 0o644, "!<arch>"), reg("var/cache/apt/archives/lock", 0o640, "")}}, fail: RuleLeftovers, wantPaths: []string{"/var/cache/apt/archives/curl_8.0_amd64.deb"}},
		{name: "pip cache", layers: [][]tf{{dir("root/.cache/pip/", 0o755), reg("root/.cache/pip/http/x", 0o644, "")}}, fail: RuleLeftovers, wantPaths: []string{"/root/.cache/pip"}},
		{name: "look-alike leftovers", layers: [][]tf{{dir("app/.github/", 0o755), reg("app/.gitignore", 0o644, ""), reg("app/Dockerfile.md", 0o644, ""), reg("usr/share/doc/docker/examples/Dockerfile", 0o644, ""), reg("etc/ssh/ssh_host_key.pub", 0o644, "")}}},

		{
			name: "ADD from a URL",
			edit: func(cf *v1.ConfigFile) {
				cf.History = []v1.History{
					{CreatedBy: "/bin/sh -c #(nop) ADD file:0123abcd in / "},
					{CreatedBy: "ADD --chmod=755 https://example.com/tool /usr/bin/tool # buildkit"},
				}
			},
			fail: RuleAddURL, wantPaths: []string{"history[1]"},
		},
		{
			name: "ADD from a URL pinned by checksum",
			edit: func(cf *v1.ConfigFile) {
				cf.History = []v1.History{{CreatedBy: "ADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d https://example.com/tool /tool # buildkit"}}
			},
		},
		{
			name: "URL in a RUN is not ADD",
			edit: func(cf *v1.ConfigFile) {
				cf.History = []v1.History{{CreatedBy: "RUN /bin/sh -c git submodule add https://example.com/x.git # buildkit"}}
			},
		},

		{name: "base by tag", ann: map[string]string{AnnotationBaseName: "docker.io/library/debian:12"}, fail: RuleBaseDigest, wantPaths: []string{"annotation:" + AnnotationBaseName}},
		{name: "base label by tag", edit: func(cf *v1.ConfigFile) { cf.Config.Labels = map[string]string{AnnotationBaseName: "debian:12"} }, fail: RuleBaseDigest, wantPaths: []string{"label:" + AnnotationBaseName}},
		{name: "base digest malformed", ann: map[string]string{AnnotationBaseName: "debian:12", AnnotationBaseDigest: "latest"}, fail: RuleBaseDigest, wantPaths: []string{"annotation:" + AnnotationBaseDigest}},
		{name: "base pinned", ann: map[string]string{AnnotationBaseName: "debian:12", AnnotationBaseDigest: "sha256:" + strings.Repeat("ab", 32)}},
		{name: "base pinned in its name", ann: map[string]string{AnnotationBaseName: "debian@sha256:" + strings.Repeat("ab", 32)}},

		{name: "secret", secrets: secretsFinding(awsKey(evidence.StatusAffected)), fail: RuleSecrets, wantPaths: []string{"/app/.env"}},
		{name: "allow-listed secret", secrets: secretsFinding(awsKey(evidence.StatusWaived))},
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			layers := []v1.Layer{layer(t, goodBase()...)}
			for _, l := range tt.layers {
				layers = append(layers, layer(t, l...))
			}
			edit := func(cf *v1.ConfigFile) {
				nonrootUser(cf)
				if tt.edit != nil {
					tt.edit(cf)
				}
			}
			img := image(t, edit, layers...)
			if tt.ann != nil {
				img = annotate(img, tt.ann)
			}
			secrets := tt.secrets
			if secrets == nil {
				secrets = secretsFinding()
			}
			fs, err := Lint(ctx, img, Options{Secrets: secrets})
			if err != nil {
				t.Fatal(err)
			}
			if len(fs) != len(Rules()) {
				t.Fatalf("got %d findings, want one per rule (%d)", len(fs), len(Rules()))
			}
			for _, f := range fs {
				if f.Kind != evidence.KindRule || f.Title == "" || !strings.Contains(f.Description, "Remediation:") {
					t.Errorf("%s: incomplete finding %+v", f.ID, f)
				}
				if f.ID != tt.fail {
					if f.Status == evidence.StatusFailed {
						t.Errorf("%s failed too: %s %v", f.ID, f.Detail["found"], paths(f))
					}
					continue
				}
				if f.Status != evidence.StatusFailed {
					t.Errorf("%s: status %s (%s), want failed", f.ID, f.Status, f.Reason)
					continue
				}
				if got := strings.Join(paths(f), " "); got != strings.Join(tt.wantPaths, " ") {
					t.Errorf("%s locations = %s, want %s", f.ID, got, strings.Join(tt.wantPaths, " "))
				}
				if f.Detail["found"] == "" {
					t.Errorf("%s: no summary of what was found", f.ID)
				}
			}
		})
	}
}

func TestLintLocationsNameLayers(t *testing.T) {
	base := layer(t, goodBase()...)
	top := layer(t, reg("usr/bin/su", 0o4755, "su"))
	img := image(t, nonrootUser, base, top)
	fs, err := Lint(context.Background(), img, Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := byID(fs)[RuleSetuid]
	want, _ := top.DiffID()
	if len(f.Locations) != 1 || f.Locations[0].Layer != want.String() {
		t.Errorf("setuid locations = %+v, want layer %s", f.Locations, want)
	}
	if !strings.Contains(f.Detail["found"], "/usr/bin/su (setuid root)") {
		t.Errorf("summary %q does not say whose privileges", f.Detail["found"])
	}
}

func TestLintSkipsWhatItCannotCheck(t *testing.T) {
	img := image(t, nonrootUser, layer(t, goodBase()...))
	fs, err := Lint(context.Background(), img, Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := byID(fs)
	for _, id := range []string{RuleSecrets, RuleBaseDigest} {
		if m[id].Status != evidence.StatusSkipped || m[id].Reason == "" {
			t.Errorf("%s = %s (%q), want skipped with a reason", id, m[id].Status, m[id].Reason)
		}
	}
}

func TestLintSecretsError(t *testing.T) {
	img := image(t, nonrootUser, layer(t, goodBase()...))
	boom := errors.New("boom")
	_, err := Lint(context.Background(), img, Options{Secrets: func(context.Context, v1.Image) ([]evidence.Finding, error) { return nil, boom }})
	if !errors.Is(err, boom) {
		t.Errorf("err = %v, want the secrets stage's error", err)
	}
}

func TestProfiles(t *testing.T) {
	img := image(t, func(cf *v1.ConfigFile) { cf.Config.User = "" }, layer(t, append(goodBase(), reg("etc/x", 0o666, ""))...))
	ctx := context.Background()
	minimal, err := Lint(ctx, img, Options{})
	if err != nil {
		t.Fatal(err)
	}
	cis, err := Lint(ctx, img, Options{Profile: ProfileCIS})
	if err != nil {
		t.Fatal(err)
	}
	if len(minimal) != len(Rules()) {
		t.Errorf("minimal ran %d rules, want all %d", len(minimal), len(Rules()))
	}
	for _, f := range cis {
		if f.CIS == "" {
			t.Errorf("cis profile ran %s, which maps to no CIS recommendation", f.ID)
		}
	}
	if _, ok := byID(cis)[RuleWorldWritable]; ok {
		t.Error("cis profile ran the world-writable rule")
	}
	// Severities differ by profile: ADD from a URL is low in CIS (4.9) but medium in minimal.
	if s := byID(cis)[RuleAddURL].Severity; s != evidence.SeverityLow {
		t.Errorf("cis %s severity = %s, want low", RuleAddURL, s)
	}
	if s := byID(minimal)[RuleAddURL].Severity; s != evidence.SeverityMedium {
		t.Errorf("minimal %s severity = %s, want medium", RuleAddURL, s)
	}
	if f := byID(cis)[RuleRootUser]; f.Status != evidence.StatusFailed || f.CIS != "4.1" {
		t.Errorf("cis root rule = %s CIS %s, want failed, 4.1", f.Status, f.CIS)
	}
	if _, err := Lint(ctx, img, Options{Profile: "strict"}); !errors.Is(err, ErrUnknownProfile) {
		t.Errorf("unknown profile: err = %v", err)
	}
}

func TestWaivers(t *testing.T) {
	img := image(t, func(cf *v1.ConfigFile) { cf.Config.User = "" }, layer(t, goodBase()...))
	ctx := context.Background()
	fs, err := Lint(ctx, img, Options{Waivers: []Waiver{
		{Rule: RuleRootUser, Reason: "nginx binds port 80, then drops to www-data"},
		{Rule: RuleSetuid, Reason: "nothing to waive, stays passed"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	m := byID(fs)
	if f := m[RuleRootUser]; f.Status != evidence.StatusWaived || f.Reason != "nginx binds port 80, then drops to www-data" || len(f.Locations) == 0 {
		t.Errorf("waived root rule = %+v", f)
	}
	if f := m[RuleSetuid]; f.Status != evidence.StatusPassed {
		t.Errorf("a waiver turned a passed rule into %s", f.Status)
	}
	r := evidence.Report{Findings: fs}
	if n := len(r.AtLeast(evidence.SeverityNegligible)); n != 0 {
		t.Errorf("%d findings still count after the waiver", n)
	}

	for _, tt := range []struct {
		name string
		w    []Waiver
		want error
	}{
		{"unknown rule", []Waiver{{Rule: "INGOT-H999", Reason: "typo"}}, ErrUnknownRule},
		{"dockle ID", []Waiver{{Rule: "CIS-DI-0001", Reason: "other tool"}}, ErrUnknownRule},
		{"no reason", []Waiver{{Rule: RuleRootUser, Reason: "  "}}, ErrInvalidWaiver},
		{"twice", []Waiver{{Rule: RuleRootUser, Reason: "a"}, {Rule: RuleRootUser, Reason: "b"}}, ErrInvalidWaiver},
	} {
		if _, err := Lint(ctx, img, Options{Waivers: tt.w}); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestRules(t *testing.T) {
	seen := map[string]bool{}
	for i, r := range Rules() {
		if seen[r.ID] || !strings.HasPrefix(r.ID, "INGOT-H") {
			t.Errorf("rule %d: ID %q duplicate or malformed", i, r.ID)
		}
		seen[r.ID] = true
		if r.Title == "" || r.Description == "" || r.Remediation == "" || r.Severity < evidence.SeverityLow {
			t.Errorf("%s: incomplete %+v", r.ID, r)
		}
		if !r.In(ProfileMinimal) {
			t.Errorf("%s is not in the minimal profile", r.ID)
		}
		if r.In(ProfileCIS) != (r.CIS != "") || (r.CIS != "" && r.CISSeverity < evidence.SeverityLow) {
			t.Errorf("%s: CIS %q, CIS severity %s, profiles %v", r.ID, r.CIS, r.CISSeverity, r.Profiles)
		}
	}
}
