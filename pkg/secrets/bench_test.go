package secrets

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// benchLines are the kinds of line application images are made of: code that talks about tokens and
// passwords without holding any, configuration, prose, data.
var benchLines = []string{
	"def authenticate(self, username, password=None, token=None):",
	"        if not self.check_password(password):",
	"            pass",
	"    token = self._get_token(request.headers.get(\"Authorization\"))",
	"    secret_name = os.environ.get(\"SECRET_NAME\", \"app-secrets\")",
	"import os, sys, json, logging, hashlib",
	"logger = logging.getLogger(__name__)",
	"class SessionManager(BaseManager):",
	"    \"\"\"Keep the session token fresh and retry on 401.\"\"\"",
	"  return fetch(url, { headers: { Authorization: `Bearer ${token}` } });",
	"const apiKey = process.env.API_KEY;",
	"export function hashPassword(pw, salt) { return crypto.pbkdf2Sync(pw, salt, 1e5, 64, 'sha512'); }",
	"server:\n  port: 8080\n  tls:\n    cert_file: /etc/app/tls.crt\n    key_file: /etc/app/tls.key",
	"db:\n  host: postgres\n  password_file: /run/secrets/db",
	"# The token is valid for one hour; refresh it before it expires.",
	"for (let i = 0; i < items.length; i++) { total += items[i].price * items[i].qty; }",
	"sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
	"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt.",
	"    \"integrity\": \"sha512-3Wc8ZpJ3sYd6HfA1gEu5KoTQ7vLm2XkR9tB4nW==\",",
	"if err != nil {\n\treturn fmt.Errorf(\"reading token file %s: %w\", path, err)\n}",
}

// benchImage writes an image of layers*perLayer text files of about 8 KiB each to an OCI layout, so
// the benchmark reads gzip blobs as a scan of a real image does.
func benchImage(b *testing.B, layers, perLayer int) v1.Image {
	b.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	img := empty.Image
	for l := range layers {
		var files []tarFile
		for f := range perLayer {
			var sb strings.Builder
			for sb.Len() < 8<<10 {
				sb.WriteString(benchLines[r.IntN(len(benchLines))])
				sb.WriteByte('\n')
			}
			if f%500 == 0 {
				sb.WriteString("GITHUB_TOKEN=" + fakeGitHub + "\n")
			}
			files = append(files, tarFile{name: fmt.Sprintf("app/l%d/pkg%03d/mod%d.py", l, f/50, f), body: sb.String()})
		}
		var err error
		if img, err = mutate.AppendLayers(img, layer(b, files...)); err != nil {
			b.Fatal(err)
		}
	}
	p, err := layout.Write(b.TempDir(), empty.Index)
	if err != nil {
		b.Fatal(err)
	}
	if err := p.AppendImage(img); err != nil {
		b.Fatal(err)
	}
	ii, err := p.ImageIndex()
	if err != nil {
		b.Fatal(err)
	}
	m, err := ii.IndexManifest()
	if err != nil {
		b.Fatal(err)
	}
	out, err := ii.Image(m.Manifests[0].Digest)
	if err != nil {
		b.Fatal(err)
	}
	return out
}

// BenchmarkScan scans 4 layers of 1000 text files (32 MiB of text).
func BenchmarkScan(b *testing.B) {
	img := benchImage(b, 4, 1000)
	b.SetBytes(4 * 1000 * 8 << 10)
	b.ResetTimer()
	for b.Loop() {
		fs, err := Scan(context.Background(), img, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if len(fs) != 8 {
			b.Fatalf("%d findings, want 8", len(fs))
		}
	}
}

// BenchmarkScanBytes scans one 8 KiB source file with the default rules.
func BenchmarkScanBytes(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	var sb strings.Builder
	for sb.Len() < 8<<10 {
		sb.WriteString(benchLines[r.IntN(len(benchLines))])
		sb.WriteByte('\n')
	}
	data := []byte(sb.String())
	s := newScanner(DefaultRules())
	var scratch []byte
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if ms := s.scan("f", data, &scratch); len(ms) != 0 {
			b.Fatalf("found %v", ms)
		}
	}
}
