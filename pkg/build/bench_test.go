package build_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/ingot-build/ingot/internal/debtest"
	"github.com/ingot-build/ingot/pkg/build"
)

// benchPackages makes n packages of about 1.5 MB unpacked each (30 MB for 20, like libc6, libssl3 and
// their dependencies), half-compressible like shared libraries.
func benchPackages(b *testing.B, n int, compression string) []build.Package {
	rng := rand.New(rand.NewPCG(1, 2))
	pkgs := make([]build.Package, n)
	for i := range pkgs {
		name := fmt.Sprintf("lib%02d", i)
		files := []debtest.File{{Path: "usr/share/doc/" + name + "/copyright", Body: []byte("license\n")}}
		for j := range 60 {
			body := make([]byte, 25000)
			for k := range body {
				if k%2 == 0 {
					body[k] = byte(rng.Uint32())
				} else {
					body[k] = byte(k)
				}
			}
			files = append(files,
				debtest.File{Path: fmt.Sprintf("usr/lib/x86_64-linux-gnu/%s/obj%02d.so", name, j), Body: body, Mode: 0o644},
				debtest.File{Path: fmt.Sprintf("usr/lib/x86_64-linux-gnu/%s/link%02d.so", name, j), Symlink: fmt.Sprintf("obj%02d.so", j)},
			)
		}
		pkgs[i] = pkg(b, debtest.Package{Name: name, Source: fmt.Sprintf("src%d", i%7), Files: files, Compression: compression})
	}
	return pkgs
}

// BenchmarkImage assembles 20 packages. With xz data, as Debian ships it, decompression in pkg/deb
// dominates; gz shows the cost of the assembly itself.
func BenchmarkImage(b *testing.B) {
	for _, c := range []struct {
		compression string
		layers      int
	}{{"gz", 1}, {"gz", 4}, {"xz", 1}} {
		b.Run(fmt.Sprintf("data=%s/layers=%d", c.compression, c.layers), func(b *testing.B) {
			pkgs := benchPackages(b, 20, c.compression) // b.Loop keeps this out of the timing
			opt := build.Options{Arch: "amd64", Packages: pkgs, Accounts: nonroot(), Epoch: testEpoch(), Layers: c.layers}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := build.Image(context.Background(), opt); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
