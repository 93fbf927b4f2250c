package harden_test

import (
	"context"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ingot-build/ingot/internal/debtest"
	"github.com/ingot-build/ingot/pkg/build"
	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/harden"
	"github.com/ingot-build/ingot/pkg/secrets"
)

func scanSecrets(ctx context.Context, img v1.Image) ([]evidence.Finding, error) {
	return secrets.Scan(ctx, img, secrets.Options{})
}

// ingotImage builds what `ingot build` makes of a small spec: two packages, the default nonroot account.
func ingotImage(t testing.TB, base v1.Image, annotations map[string]string, files ...build.File) v1.Image {
	t.Helper()
	debs := []debtest.Package{
		{Name: "base-files", Version: "12.4+deb12u1", Arch: "all", Files: []debtest.File{
			{Path: "usr/lib/os-release", Body: []byte("PRETTY_NAME=\"Fixture GNU/Linux 12\"\nID=debian\nVERSION_ID=\"12\"\n")},
			{Path: "etc/os-release", Symlink: "../usr/lib/os-release"},
			{Path: "var/tmp", Dir: true, Mode: 0o1777},
			{Path: "var/local", Dir: true, Mode: 0o2775},
		}},
		{Name: "libhello1", Version: "1.0-1", Source: "hello", Files: []debtest.File{
			{Path: "usr/lib/x86_64-linux-gnu/libhello.so.1", Mode: 0o644, Body: []byte("\x7fELF lib")},
		}},
		{Name: "hello", Version: "1.0-1", Depends: "libhello1", Files: []debtest.File{
			{Path: "usr/bin/hello", Mode: 0o755, Body: []byte("\x7fELF hello")},
		}},
	}
	var pkgs []build.Package
	for _, p := range debs {
		pkgs = append(pkgs, build.Package{Name: p.Name, Version: p.Version, SHA256: "00", Deb: debtest.MustBuild(t, p)})
	}
	img, err := build.Image(context.Background(), build.Options{
		Arch:     "amd64",
		Packages: pkgs,
		Accounts: build.Accounts{
			Groups: []build.Group{{Name: "nonroot", GID: 65532}},
			Users:  []build.User{{Name: "nonroot", UID: 65532, GID: 65532, Home: "/home/nonroot"}},
			RunAs:  "nonroot",
		},
		Config:      build.Config{Entrypoint: []string{"/usr/bin/hello"}},
		Files:       files,
		Base:        base,
		Epoch:       time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC),
		Annotations: annotations,
	})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestIngotImagePassesMinimal(t *testing.T) {
	img := ingotImage(t, nil, nil)
	fs, err := harden.Lint(context.Background(), img, harden.Options{Profile: harden.ProfileMinimal, Secrets: scanSecrets})
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != len(harden.Rules()) {
		t.Fatalf("%d findings, want one per rule", len(fs))
	}
	for _, f := range fs {
		switch f.Status {
		case evidence.StatusPassed:
		case evidence.StatusSkipped:
			if f.Reason == "" {
				t.Errorf("%s skipped without a reason", f.ID)
			}
		default:
			t.Errorf("%s %s: %s %v", f.ID, f.Status, f.Detail["found"], f.Locations)
		}
	}
	if f := fs[0]; f.ID != harden.RuleRootUser || !strings.Contains(f.Reason, "65532") {
		t.Errorf("root rule = %s %q, want passed as uid 65532", f.ID, f.Reason)
	}
	if f := fs[len(fs)-1]; f.ID != harden.RuleSecrets || f.Status != evidence.StatusPassed {
		t.Errorf("secrets rule = %s %s, want passed: the secrets stage ran and found nothing", f.ID, f.Status)
	}
}

// The secrets rule runs the real secrets stage: a private key left in the image fails it, at its path.
func TestSecretsRuleWithTheSecretsStage(t *testing.T) {
	key := "-----BEGIN OPENSSH PRIVATE KEY-----\n" +
		"b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n" +
		"QyNTUxOQAAACBzb21lIHJhbmRvbSBieXRlcyBmb3IgYSB0ZXN0IGtleSBvbmx5IQAAAJgK\n" +
		"-----END OPENSSH PRIVATE KEY-----\n"
	img := ingotImage(t, nil, nil, build.File{Path: "/srv/deploy_key", Mode: 0o600, Data: []byte(key)})
	fs, err := harden.Lint(context.Background(), img, harden.Options{Secrets: scanSecrets})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		if f.ID != harden.RuleSecrets {
			continue
		}
		if f.Status != evidence.StatusFailed || len(f.Locations) == 0 || f.Locations[0].Path != "/srv/deploy_key" || f.Locations[0].Layer == "" {
			t.Errorf("secrets rule = %s %+v, want failed at /srv/deploy_key with its layer", f.Status, f.Locations)
		}
		if strings.Contains(f.Detail["found"], "b3BlbnNz") {
			t.Errorf("the summary carries key material: %s", f.Detail["found"])
		}
	}
}

// An ingot image on a base records the base digest (pkg/build does), which pins the named base.
func TestIngotImageOnABase(t *testing.T) {
	base := ingotImage(t, nil, nil)
	img := ingotImage(t, base, map[string]string{harden.AnnotationBaseName: "registry.example/base:1"})
	fs, err := harden.Lint(context.Background(), img, harden.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		if f.ID == harden.RuleBaseDigest && (f.Status != evidence.StatusPassed || !strings.Contains(f.Reason, "registry.example/base:1@sha256:")) {
			t.Errorf("base rule = %s %q, want passed and pinned", f.Status, f.Reason)
		}
	}
}
