package cli

import (
	"archive/tar"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/ingot-build/ingot/pkg/store"
)

// TestExamplesFromHostMirror builds examples/static and examples/base from the host's configured
// Debian mirror. It reaches the network, so it runs only with INGOT_TEST_HOST_MIRROR=1.
func TestExamplesFromHostMirror(t *testing.T) {
	if os.Getenv("INGOT_TEST_HOST_MIRROR") == "" {
		t.Skip("set INGOT_TEST_HOST_MIRROR=1 to build the examples from the host's apt mirror")
	}
	data := t.TempDir()
	for _, tc := range []struct {
		example string
		// maxCompressed bounds the image size: distroless static is about 2 MiB.
		maxCompressed int64
		mustHave      []string
	}{
		{"static", 3 << 20, []string{"etc/ssl/certs/ca-certificates.crt", "usr/share/zoneinfo/UTC", "etc/services", "var/lib/dpkg/status.d/tzdata"}},
		{"base", 12 << 20, []string{"lib/x86_64-linux-gnu/libc.so.6", "usr/lib/x86_64-linux-gnu/libssl.so.3", "lib64/ld-linux-x86-64.so.2"}},
	} {
		t.Run(tc.example, func(t *testing.T) {
			dir := t.TempDir()
			spec, err := os.ReadFile(filepath.Join("..", "..", "examples", tc.example, "ingot.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "ingot.yaml"), spec, 0o644); err != nil {
				t.Fatal(err)
			}
			if _, stderr, err := run(t, "--data-dir", data, "build", dir); err != nil {
				t.Fatalf("build: %v\n%s", err, stderr)
			}
			a, err := store.Store{Root: data}.Layouts().Read(tc.example, "bookworm")
			if err != nil {
				t.Fatal(err)
			}
			layers, _ := a.Image.Layers()
			var size int64
			for _, l := range layers {
				s, _ := l.Size()
				size += s
			}
			t.Logf("%s: %d layers, %.2f MiB compressed", tc.example, len(layers), float64(size)/(1<<20))
			if size > tc.maxCompressed {
				t.Errorf("%s is %d bytes compressed, want at most %d", tc.example, size, tc.maxCompressed)
			}
			files := map[string]bool{}
			tr := tar.NewReader(mutate.Extract(a.Image))
			for {
				h, err := tr.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				files[strings.TrimSuffix(h.Name, "/")] = h.Typeflag != tar.TypeDir
			}
			for _, p := range tc.mustHave {
				if _, ok := files[p]; !ok {
					t.Errorf("%s lacks %s", tc.example, p)
				}
			}
			for f, notDir := range files {
				if !notDir {
					continue
				}
				switch path.Base(f) {
				case "sh", "bash", "dash", "busybox", "perl", "python3", "apt", "apt-get", "dpkg", "awk", "mawk":
					if !strings.HasPrefix(f, "usr/share/") {
						t.Errorf("%s contains %s: no shell, interpreter or package manager belongs in gold", tc.example, f)
					}
				}
			}
		})
	}
}
