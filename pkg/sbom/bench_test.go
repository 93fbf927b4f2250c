package sbom

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/klauspost/compress/gzip"
)

// gzipLayer is a layer stored gzip-compressed, as registries and layouts hold them, so Inventory pays
// for decompression as it would on a real image.
func gzipLayer(b *testing.B, files ...tfile) v1.Layer {
	b.Helper()
	raw, err := io.ReadAll(must(layerOf(b, files...).Uncompressed()))
	if err != nil {
		b.Fatal(err)
	}
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	if _, err := zw.Write(raw); err != nil {
		b.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		b.Fatal(err)
	}
	data := z.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		b.Fatal(err)
	}
	return l
}

func must(rc io.ReadCloser, err error) io.ReadCloser {
	if err != nil {
		panic(err)
	}
	return rc
}

// BenchmarkInventory reads the inventory of a distroless-like image: ten Debian packages with their md5sums and
// 2,000 files of payload (about 24 MiB, half of it incompressible), plus a layer with a Go binary.
func BenchmarkInventory(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	base := []tfile{
		file("usr/lib/os-release", fixture(b, "os-release/debian")),
		symlink("etc/os-release", "../usr/lib/os-release"),
	}
	for i := range 10 {
		name := fmt.Sprintf("pkg%d", i)
		base = append(base,
			file("var/lib/dpkg/status.d/"+name, fmt.Sprintf("Package: %s\nVersion: 1.%d-1\nArchitecture: amd64\nSource: src%d\n", name, i, i%3)),
			file("var/lib/dpkg/status.d/"+name+".md5sums", "d41d8cd98f00b204e9800998ecf8427e  usr/share/doc/x\n"))
	}
	for i := range 2000 {
		body := make([]byte, 12<<10)
		if i%2 == 0 {
			for j := range body {
				body[j] = byte(rng.IntN(256))
			}
		} else {
			copy(body, bytes.Repeat([]byte("payload "), len(body)/8))
		}
		base = append(base, fileBytes(fmt.Sprintf("usr/share/payload/%03d/file%d", i/100, i), body))
	}
	img := imageOf(b, gzipLayer(b, base...), gzipLayer(b, fileBytes("usr/local/bin/gobin", goBinary(b))))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		inv, err := Inventory(context.Background(), img, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if len(inv.Packages) != 13 {
			b.Fatalf("%d packages, want 10 Debian and 3 Go", len(inv.Packages))
		}
	}
}
