package harden

import (
	"context"
	"fmt"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// BenchmarkLint lints an image of four layers holding 40,000 files in all, about a Python or Node
// application image: the cost is one read of each layer's tar stream, in parallel.
func BenchmarkLint(b *testing.B) {
	layers := []v1.Layer{layer(b, goodBase()...)}
	for l := range 4 {
		var es []tf
		for d := range 100 {
			es = append(es, dir(fmt.Sprintf("usr/lib/app%d/pkg%d/", l, d), 0o755))
			for f := range 100 {
				es = append(es, reg(fmt.Sprintf("usr/lib/app%d/pkg%d/mod%d.py", l, d, f), 0o644, "print('hello')\n"))
			}
		}
		layers = append(layers, layer(b, es...))
	}
	img := image(b, nonrootUser, layers...)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		if _, err := Lint(ctx, img, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
