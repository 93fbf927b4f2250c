package imageref

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/ingot-build/ingot/internal/regtest"
	"github.com/ingot-build/ingot/pkg/publish"
)

// rewriteArchive copies the docker archive src to a new file, passing each entry's name and content
// through edit.
func rewriteArchive(t *testing.T, src string, edit func(name string, data []byte) (string, []byte)) string {
	t.Helper()
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		h.Name, data = edit(h.Name, data)
		h.Size = int64(len(data))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "rewritten.tar")
	if err := os.WriteFile(p, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCompressedArchive: ingot's reader of a docker archive with compressed layers makes up the
// manifest go-containerregistry makes up (the same digest), whether it takes the layer digests from
// the files' names or hashes files named otherwise, and gives the same layers.
func TestCompressedArchive(t *testing.T) {
	img := threeLayers(t)
	archive := filepath.Join(t.TempDir(), "x.tar")
	if err := publish.WriteTarball(archive, "x:1", publish.Artifact{Image: img}); err != nil {
		t.Fatal(err)
	}
	renamed := rewriteArchive(t, archive, func(n string, data []byte) (string, []byte) {
		if n == "manifest.json" {
			return n, []byte(strings.ReplaceAll(string(data), ".tar.gz", ".layer"))
		}
		return strings.Replace(n, ".tar.gz", ".layer", 1), data
	})
	for _, p := range []string{archive, renamed} {
		t.Run(filepath.Base(p), func(t *testing.T) {
			want, err := tarball.ImageFromPath(p, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Open(context.Background(), "docker-archive:"+p, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := got.Image.(archiveImage); !ok {
				t.Fatalf("read as %T, not by ingot's archive reader", got.Image)
			}
			for _, d := range []func(v1.Image) (v1.Hash, error){v1.Image.Digest, v1.Image.ConfigName} {
				w, err1 := d(want)
				g, err2 := d(got)
				if err1 != nil || err2 != nil || w != g {
					t.Errorf("digest %s, %v; go-containerregistry's %s, %v", g, err2, w, err1)
				}
			}
			wl, _ := want.Layers()
			gl, _ := got.Layers()
			if len(gl) != len(wl) {
				t.Fatalf("%d layers, want %d", len(gl), len(wl))
			}
			for i := range gl {
				if g, w := readAll(t, gl[i].Compressed), readAll(t, wl[i].Compressed); !bytes.Equal(g, w) {
					t.Errorf("layer %d: the blobs differ", i)
				}
				if tr, err := readTar(t, NewLayerReader(Limits{}), gl[i]); err != nil || !bytes.Equal(tr, readAll(t, wl[i].Uncompressed)) {
					t.Errorf("layer %d: the tar streams differ (%v)", i, err)
				}
			}
		})
	}
}

// TestArchiveNameLies: a layer file named by a digest it does not hash to is caught when it is read,
// with publish.ErrIntegrity, through every inflater.
func TestArchiveNameLies(t *testing.T) { inflaters(t, testArchiveNameLies) }

func testArchiveNameLies(t *testing.T) {
	img := threeLayers(t)
	archive := filepath.Join(t.TempDir(), "x.tar")
	if err := publish.WriteTarball(archive, "x:1", publish.Artifact{Image: img}); err != nil {
		t.Fatal(err)
	}
	ls, _ := img.Layers()
	other := readAll(t, ls[1].Compressed) // another valid blob of the same compression, under the first's name
	d0, _ := ls[0].Digest()
	lying := rewriteArchive(t, archive, func(n string, data []byte) (string, []byte) {
		if n == d0.Hex+".tar.gz" {
			return n, other
		}
		return n, data
	})
	opened, err := Open(context.Background(), "docker-archive:"+lying, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := opened.Verify(context.Background()); !errors.Is(err, publish.ErrIntegrity) {
		t.Errorf("Verify of an archive with a layer that is not what its name says: %v", err)
	}
	honest, err := Open(context.Background(), "docker-archive:"+archive, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := honest.Verify(context.Background()); err != nil {
		t.Errorf("Verify of the honest archive: %v", err)
	}
	layers, _ := opened.Layers()
	if got, _ := layers[0].Digest(); got != d0 {
		t.Errorf("layer digest %s, not the one its name gives", got)
	}
	if _, err := readTar(t, NewLayerReader(Limits{}), layers[0]); !errors.Is(err, publish.ErrIntegrity) {
		t.Fatalf("reading a layer that is not what its name says: %v", err)
	}
	if _, err := readTar(t, NewLayerReader(Limits{}), layers[1]); err != nil {
		t.Fatalf("reading a layer that is: %v", err)
	}
}

// TestSparseArchiveMember: a layer file that GNU tar stored sparse (its holes left out of the
// archive, which archive/tar expands) is not read in place, where its stored bytes are not its
// content: the archive goes to go-containerregistry.
func TestSparseArchiveMember(t *testing.T) {
	gnuTar := regtest.Peer(t, "tar")
	img := threeLayers(t)
	archive := filepath.Join(t.TempDir(), "x.tar")
	if err := publish.WriteTarball(archive, "x:1", publish.Artifact{Image: img}); err != nil {
		t.Fatal(err)
	}
	// Unpack it, give the first layer file a hole at its end, and pack it again with -S.
	dir := t.TempDir()
	var names []string
	rewriteArchive(t, archive, func(n string, data []byte) (string, []byte) {
		if err := os.WriteFile(filepath.Join(dir, n), data, 0o644); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
		return n, data
	})
	toc, err := checkArchive(archive, "docker-archive:"+archive)
	if err != nil {
		t.Fatal(err)
	}
	var first string
	for n, m := range toc.members {
		if strings.HasSuffix(n, ".tar.gz") && m.plain && (first == "" || n < first) {
			first = n
		}
	}
	if first == "" {
		t.Fatal("no plain layer file in the archive written")
	}
	fi, err := os.Stat(filepath.Join(dir, first))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filepath.Join(dir, first), fi.Size()+1<<20); err != nil {
		t.Fatal(err)
	}
	sparseTar := filepath.Join(t.TempDir(), "sparse.tar")
	cmd := exec.Command(gnuTar, append([]string{"-S", "--format=pax", "-cf", sparseTar, "-C", dir}, names...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	toc, err = checkArchive(sparseTar, "docker-archive:"+sparseTar)
	if err != nil {
		t.Fatal(err)
	}
	if m := toc.members[first]; m.plain {
		t.Errorf("%s, stored sparse, is read as a plain member (%d bytes at %d)", first, m.size, m.off)
	}
	got, err := Open(context.Background(), "docker-archive:"+sparseTar, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got.Image.(archiveImage); ok {
		t.Error("an archive with a sparse layer file is read in place")
	}
}
