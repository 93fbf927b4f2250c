package host

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/secrets"
)

// Fake secrets in real formats; none was ever issued.
const (
	fakeToken  = "ghp_Q7vLm2XkR9tB4nWc8ZpJ3sYd6HfA1gEu5KoT"
	fakeToken2 = "ghp_w3Nq8RkT2vZm6LpX9cJb4YsH7dGf1AuE5oKi"
)

// secretsTree holds secrets where the scan must find them, and where pkg/secrets skips them for
// images: a default skip path, a binary, a binary-only extension, a file over the size cap.
func secretsTree() tree {
	return goodTree().with(tree{
		"opt/app/deploy.env":       reg("GITHUB_TOKEN="+fakeToken+"\n", 0o600),
		"etc/app/db.conf":          reg("# kept for the rules and scanned\nuser = app\ntoken = "+fakeToken2+"\n", 0o640),
		"opt/app/allowed.env":      reg("CI_TOKEN="+fakeToken2+"\n", 0o600),
		"usr/share/doc/app/README": reg("export GITHUB_TOKEN="+fakeToken+"\n", 0o644),
		"usr/bin/tool":             reg("\x7fELF\x00\x00\x00token="+fakeToken+"\n", 0o755),
		"usr/lib/libapp.so":        reg("token="+fakeToken+"\n", 0o644),
		"srv/big.txt":              reg("token="+fakeToken+"\n"+strings.Repeat("# padding\n", 500), 0o644),
	})
}

// comparable drops what only an image scan has: the layer a file was found in.
func comparable(fs []evidence.Finding) []string {
	var out []string
	for _, f := range fs {
		for _, l := range f.Locations {
			out = append(out, fmt.Sprintf("%s %s %s:%d %s %s %q", f.ID, f.Severity, l.Path, l.Line, f.Status, f.Reason, f.Detail["match"]))
		}
	}
	return out
}

// TestSecretsDirectMatchesImage: the secrets scan run over the tree's files during Open's one walk
// finds exactly what the same scan finds through the tree presented as an image, skips what it
// skips, and the walk's digest is the digest of the image's streamed layer.
func TestSecretsDirectMatchesImage(t *testing.T) {
	ctx := context.Background()
	opt := secrets.Options{
		MaxFileSize: 4096,
		Allow:       []secrets.Allow{{Path: "/opt/app/allowed.env", Reason: "a CI fixture"}},
	}
	targets := map[string]func(*testing.T) string{
		KindTarball:   func(t *testing.T) string { return secretsTree().tarball(t) },
		KindDirectory: func(t *testing.T) string { return secretsTree().directory(t) },
	}
	for kind, target := range targets {
		t.Run(kind, func(t *testing.T) {
			name := target(t)
			streamed, err := Open(ctx, name, OpenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = streamed.Close() }()
			viaImage, err := secrets.Scan(ctx, streamed.Image(), opt)
			if err != nil {
				t.Fatal(err)
			}

			scan, err := secrets.NewFileScan(ctx, opt)
			if err != nil {
				t.Fatal(err)
			}
			defer scan.Close()
			once, err := Open(ctx, name, OpenOptions{Digest: true, Secrets: scan})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = once.Close() }()
			direct, err := scan.Findings()
			if err != nil {
				t.Fatal(err)
			}

			want, got := comparable(viaImage), comparable(direct)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("direct scan:\n%s\nimage scan:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			// What both must find and skip, so that agreeing on nothing cannot pass.
			var paths []string
			for _, f := range direct {
				paths = append(paths, f.Locations[0].Path+" "+f.Status)
			}
			wantPaths := []string{"/etc/app/db.conf affected", "/opt/app/allowed.env waived", "/opt/app/deploy.env affected"}
			if !reflect.DeepEqual(paths, wantPaths) {
				t.Errorf("found %v, want %v (doc, binary, .so and oversized files skipped)", paths, wantPaths)
			}
			// The walk's digest is the streamed layer's, and the rules still read the kept file.
			d1, err := streamed.Image().Digest()
			if err != nil {
				t.Fatal(err)
			}
			d2, err := once.Image().Digest()
			if err != nil || d1 != d2 {
				t.Errorf("one-walk digest %s (%v), streamed image %s", d2, err, d1)
			}
			if data, ok, err := once.readFile("etc/app/db.conf"); err != nil || !ok || !strings.Contains(string(data), fakeToken2) {
				t.Errorf("kept file: %q %v %v", data, ok, err)
			}
		})
	}
}

// TestRunSecretsRuleMatchesImagePath: Run's secrets rule (the direct scan) reports what the audit
// reports with the secrets stage run on the tree as an image, as before.
func TestRunSecretsRuleMatchesImagePath(t *testing.T) {
	name := secretsTree().tarball(t)
	res, err := Run(context.Background(), name, RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	viaImage := audit(t, name, Options{Secrets: func(ctx context.Context, img v1.Image) ([]evidence.Finding, error) {
		return secrets.Scan(ctx, img, secrets.Options{})
	}})
	got, want := byID(res.Report.Findings)[RuleSecrets], byID(viaImage)[RuleSecrets]
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Run: %+v\nimage path: %+v", got, want)
	}
	var paths []string
	for _, l := range got.Locations {
		paths = append(paths, l.Path)
	}
	// The default cap (10 MiB) reads big.txt; the allow-list is the CLI's (none).
	for _, p := range []string{"/etc/app/db.conf", "/opt/app/allowed.env", "/opt/app/deploy.env", "/srv/big.txt"} {
		if !slices.Contains(paths, p) {
			t.Errorf("secrets rule locations %v lack %s", paths, p)
		}
	}
	if !strings.HasPrefix(res.Report.Image.Digest, "sha256:") {
		t.Errorf("report subject %+v has no digest", res.Report.Image)
	}
}
