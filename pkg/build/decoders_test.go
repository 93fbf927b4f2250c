package build_test

import (
	"math/rand/v2"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ingot-build/ingot/internal/debtest"
	"github.com/ingot-build/ingot/internal/regtest"
	"github.com/ingot-build/ingot/pkg/build"
)

// TestSameImageWhateverTheDecoder: the same files give the same image whether the package's data is
// an xz member large enough for the xz program, a small xz member for Go's decoder, gzip, zstd or
// uncompressed, and whichever order the packages are decoded in: what reaches the layers is the
// packages' files, never how they were decompressed.
func TestSameImageWhateverTheDecoder(t *testing.T) {
	regtest.Peer(t, "xz") // without it the large member takes Go's decoder too, and this proves less
	rng := rand.New(rand.NewPCG(3, 4))
	letters := make([]byte, 1<<20) // random letters: about 600 KiB of xz, past the program's threshold
	for i := range letters {
		letters[i] = 'a' + byte(rng.IntN(26))
	}
	small := []byte("a small file\n")
	files := []debtest.File{
		{Path: "usr/share/big/letters", Body: letters},
		{Path: "usr/share/big/small", Body: small},
		{Path: "usr/share/big/link", Symlink: "letters"},
	}
	var want v1.Hash
	for i, comp := range []string{"xz", "gz", "zst", "none"} {
		opt := build.Options{
			Arch:  "amd64",
			Epoch: testEpoch(),
			Packages: []build.Package{
				pkg(t, debtest.Package{Name: "big", Arch: "all", Compression: comp, Files: files}),
				pkg(t, debtest.Package{Name: "tiny", Arch: "all", Compression: "xz", Files: []debtest.File{{Path: "usr/share/tiny", Body: small}}}),
			},
		}
		got := digest(t, mustImage(t, opt))
		if i == 0 {
			want = got
			continue
		}
		if got != want {
			t.Errorf("data compressed with %s: image %s, with xz %s", comp, got, want)
		}
	}
}
