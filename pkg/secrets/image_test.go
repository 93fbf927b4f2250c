package secrets

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/ingot-build/ingot/pkg/evidence"
)

// Fake secrets, random in the right formats; none of them was ever issued.
const (
	fakeGitHub  = "ghp_Q7vLm2XkR9tB4nWc8ZpJ3sYd6HfA1gEu5KoT"
	fakeGitHub2 = "ghp_w3Nq8RkT2vZm6LpX9cJb4YsH7dGf1AuE5oKi"
	fakeNPM     = "npm_Lk3Wq9ZtR7mXv2BnC8pJ4sYd6HfA1gEu5KoT"
	fakeGitLab  = "glpat-Xr7Kp2Qm9Wv4Lt8Zn3Bc"
	fakeAWSID   = "AKIAQ3ZR7WLXK5TNV2HM"
	fakePass    = "Vt9#qLm2Rx7!kWp4"
)

// tarFile is one entry of a hand-made layer; an empty body with a name ending in "/" is a directory.
type tarFile struct {
	name, body string
	size       int64 // when set, the file is padded to this size
}

func layer(t testing.TB, files ...tarFile) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		hdr := &tar.Header{Name: f.name, Mode: 0o644, Typeflag: tar.TypeReg, Size: int64(len(f.body))}
		if strings.HasSuffix(f.name, "/") {
			hdr.Typeflag, hdr.Mode = tar.TypeDir, 0o755
		}
		body := f.body
		if f.size > 0 {
			body += strings.Repeat("#", int(f.size)-len(body))
			hdr.Size = f.size
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// leakyImage has secrets in a file a later layer deletes, in a file a later layer replaces, in a
// file that stays, in ENV and in the build history, plus places that must not be read.
func leakyImage(t testing.TB) v1.Image {
	t.Helper()
	elf := "\x7fELF\x02\x01\x01" + strings.Repeat("\x00", 9) + "GITHUB_TOKEN=" + fakeGitHub2
	adds := []mutate.Addendum{
		{Layer: layer(t,
			tarFile{name: "./app/"},
			tarFile{name: "./app/.env", body: "# build secrets\nGITHUB_TOKEN=" + fakeGitHub + "\n"},
			tarFile{name: "./usr/bin/app", body: elf},
			tarFile{name: "./usr/share/doc/app/README", body: "token: " + fakeGitHub2 + "\n"},
			tarFile{name: "./var/log/huge.log", body: "GITHUB_TOKEN=" + fakeGitHub2 + "\n", size: 2 << 20},
		), History: v1.History{CreatedBy: "COPY . /app # buildkit"}},
		{Layer: layer(t,
			tarFile{name: "app/.wh..env"},
			tarFile{name: "etc/app/config.yaml", body: "db:\n  user: app\n  password: \"" + fakePass + "\"\n"},
			tarFile{name: "root/.npmrc", body: "//registry.npmjs.org/:_authToken=" + fakeNPM + "\n"},
		), History: v1.History{CreatedBy: "RUN |1 GL_TOKEN=" + fakeGitLab + " /bin/sh -c rm /app/.env && make install"}},
		{Layer: layer(t,
			tarFile{name: "etc/app/config.yaml", body: "db:\n  user: app\n  password_file: /run/secrets/db\n"},
		), History: v1.History{CreatedBy: "COPY config.yaml /etc/app/ # buildkit"}},
	}
	img, err := mutate.Append(empty.Image, adds...)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	cfg.Config.Env = []string{"PATH=/usr/bin", "AWS_ACCESS_KEY_ID=" + fakeAWSID, "LANG=C.UTF-8"}
	cfg.History = append([]v1.History{{CreatedBy: "ARG GH_TOKEN=" + fakeGitHub2, EmptyLayer: true}}, cfg.History...)
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

type got struct {
	id, path, layer, removed string
	line                     int
}

func summarize(fs []evidence.Finding) []got {
	var out []got
	for _, f := range fs {
		l := f.Locations[0]
		out = append(out, got{f.ID, l.Path, f.Detail["layerIndex"], f.Detail["removed"], l.Line})
	}
	return out
}

func TestScanImage(t *testing.T) {
	img := leakyImage(t)
	fs, err := Scan(context.Background(), img, Options{MaxFileSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	want := []got{
		{RuleAWSAccessKeyID, "ENV:AWS_ACCESS_KEY_ID", "", "", 0},
		{RuleGitHubToken, "history[0]", "", "", 0},
		{RuleGitLabToken, "history[2]", "", "", 0},
		{RuleGitHubToken, "/app/.env", "0", "deleted by layer 1", 2},
		{RuleGeneric, "/etc/app/config.yaml", "1", "replaced by layer 2", 3},
		{RuleNPMToken, "/root/.npmrc", "1", "", 1},
	}
	if g := summarize(fs); !equal(g, want) {
		t.Errorf("findings:\n got %+v\nwant %+v", g, want)
	}
	diffIDs := map[string]bool{}
	cfg, _ := img.ConfigFile()
	for _, d := range cfg.RootFS.DiffIDs {
		diffIDs[d.String()] = true
	}
	for _, f := range fs {
		if f.Kind != evidence.KindSecret || f.Status != evidence.StatusAffected || f.Title == "" || f.Severity == evidence.SeverityUnknown {
			t.Errorf("%s at %s: kind %q status %q title %q severity %v", f.ID, f.Locations[0].Path, f.Kind, f.Status, f.Title, f.Severity)
		}
		l := f.Locations[0]
		if strings.HasPrefix(l.Path, "/") != diffIDs[l.Layer] {
			t.Errorf("%s at %s: layer %q", f.ID, l.Path, l.Layer)
		}
		if m := f.Detail["match"]; !strings.HasSuffix(m, "****") || len(m) > 8 {
			t.Errorf("%s at %s: match %q is not redacted", f.ID, l.Path, m)
		}
	}
	b, err := json.Marshal(fs)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fakeGitHub, fakeGitHub2, fakeNPM, fakeGitLab, fakeAWSID, fakePass} {
		if bytes.Contains(b, []byte(s)) {
			t.Errorf("findings JSON holds the secret %s", Redact(s))
		}
	}
}

func equal(a, b []got) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestScanImageOptions(t *testing.T) {
	img := leakyImage(t)
	tests := []struct {
		name   string
		opt    Options
		waived map[string]string // path -> reason
		extra  []string          // paths found beyond the defaults
	}{
		{
			name:   "allow by rule",
			opt:    Options{MaxFileSize: 1 << 20, Allow: []Allow{{Rule: RuleGitHubToken, Reason: "revoked on 2026-11-01"}}},
			waived: map[string]string{"history[0]": "revoked on 2026-11-01", "/app/.env": "revoked on 2026-11-01"},
		},
		{
			name:   "allow by path glob",
			opt:    Options{MaxFileSize: 1 << 20, Allow: []Allow{{Path: "/etc/**/*.yaml", Reason: "test fixture password"}, {Path: "ENV:AWS_*", Reason: "a read-only key"}}},
			waived: map[string]string{"/etc/app/config.yaml": "test fixture password", "ENV:AWS_ACCESS_KEY_ID": "a read-only key"},
		},
		{
			name:   "allow by rule and path",
			opt:    Options{MaxFileSize: 1 << 20, Allow: []Allow{{Rule: RuleNPMToken, Path: "root/**", Reason: "scoped read token"}, {Rule: RuleNPMToken, Path: "/app/**", Reason: "wrong path"}}},
			waived: map[string]string{"/root/.npmrc": "scoped read token"},
		},
		{
			name:  "no skipped paths and no size limit",
			opt:   Options{SkipPaths: []string{}, MaxFileSize: 4 << 20},
			extra: []string{"/usr/share/doc/app/README", "/var/log/huge.log"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs, err := Scan(context.Background(), img, tt.opt)
			if err != nil {
				t.Fatal(err)
			}
			if len(fs) != 6+len(tt.extra) {
				t.Errorf("%d findings, want %d: %+v", len(fs), 6+len(tt.extra), summarize(fs))
			}
			paths := map[string]bool{}
			for _, f := range fs {
				p := f.Locations[0].Path
				paths[p] = true
				reason, ok := tt.waived[p]
				switch {
				case ok && (f.Status != evidence.StatusWaived || f.Reason != reason):
					t.Errorf("%s: status %q reason %q, want waived %q", p, f.Status, f.Reason, reason)
				case !ok && f.Status != evidence.StatusAffected:
					t.Errorf("%s: status %q, want affected", p, f.Status)
				}
			}
			for _, p := range tt.extra {
				if !paths[p] {
					t.Errorf("nothing found in %s", p)
				}
			}
		})
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		opt  Options
		ok   bool
	}{
		{"zero", Options{}, true},
		{"allow with reason", Options{Allow: []Allow{{Rule: "jwt", Reason: "short-lived"}}}, true},
		{"allow without reason", Options{Allow: []Allow{{Rule: "jwt"}}}, false},
		{"allow everything", Options{Allow: []Allow{{Reason: "quiet please"}}}, false},
		{"bad glob", Options{Allow: []Allow{{Path: "app/[", Reason: "x"}}}, false},
		{"bad skip glob", Options{SkipPaths: []string{"a/[b"}}, false},
		{"negative size", Options{MaxFileSize: -1}, false},
		{"rule without regex", Options{Rules: []Rule{{ID: "x"}}}, false},
		{"upper-case keyword", Options{Rules: []Rule{{ID: "x", Regex: DefaultRules()[0].Regex, Keywords: []string{"AKIA"}}}}, false},
		{"duplicate rule", Options{Rules: append(DefaultRules(), DefaultRules()[0])}, false},
	}
	for _, tt := range tests {
		err := tt.opt.Validate()
		if (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if _, serr := Scan(context.Background(), empty.Image, tt.opt); (serr == nil) != tt.ok {
			t.Errorf("%s: Scan error %v, want ok=%v", tt.name, serr, tt.ok)
		}
	}
}

func TestScanCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Scan(ctx, leakyImage(t), Options{}); err == nil {
		t.Error("Scan ran to the end under a cancelled context")
	}
}

func TestScanConfig(t *testing.T) {
	cfg, err := empty.Image.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	cfg.Config.Labels = map[string]string{"org.opencontainers.image.source": "https://github.com/acme/app", "ci.token": fakeGitLab}
	cfg.Config.Entrypoint = []string{"/app/server", "--db-password=" + fakePass}
	cfg.Config.Cmd = []string{"--npm", fakeNPM}
	img, err := mutate.ConfigFile(empty.Image, cfg)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := Scan(context.Background(), img, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []got{
		{RuleNPMToken, "CMD", "", "", 0},
		{RuleGeneric, "ENTRYPOINT", "", "", 0},
		{RuleGitLabToken, "LABEL:ci.token", "", "", 0},
	}
	if g := summarize(fs); !equal(g, want) {
		t.Errorf("findings:\n got %+v\nwant %+v", g, want)
	}
}

// TestRemovedBy reads the fate of each file through the layer walker: a directory whited out, a
// directory made opaque, a file written again, a file left alone.
func TestRemovedBy(t *testing.T) {
	key := "GITHUB_TOKEN=" + fakeGitHub + "\n"
	img, err := mutate.AppendLayers(empty.Image,
		layer(t, tarFile{name: "app/a/key.pem", body: key}, tarFile{name: "app/b/key.pem", body: key},
			tarFile{name: "app/c/key.pem", body: key}, tarFile{name: "app/d/key.pem", body: key}),
		layer(t, tarFile{name: "app/.wh.a"}, tarFile{name: "app/b/.wh..wh..opq"}),
		layer(t, tarFile{name: "app/c/key.pem", body: key}),
	)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := Scan(context.Background(), img, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range fs {
		got[f.Detail["layerIndex"]+":"+f.Locations[0].Path] = f.Detail["removed"]
	}
	want := map[string]string{
		"0:/app/a/key.pem": "deleted by layer 1",
		"0:/app/b/key.pem": "deleted by layer 1",
		"0:/app/c/key.pem": "replaced by layer 2",
		"0:/app/d/key.pem": "",
		"2:/app/c/key.pem": "", // the top layer's file is not removed
	}
	if !maps.Equal(got, want) {
		t.Errorf("removed:\n got %v\nwant %v", got, want)
	}
}
