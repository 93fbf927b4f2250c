package harden

import (
	"archive/tar"
	"bytes"
	"io"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// tf is one entry of a hand-made layer.
type tf struct {
	hdr  tar.Header
	body string
}

func reg(name string, mode int64, body string) tf {
	return tf{hdr: tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: mode}, body: body}
}

func dir(name string, mode int64) tf {
	return tf{hdr: tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: mode}}
}

func symlink(name, target string) tf {
	return tf{hdr: tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o777}}
}

func hardlink(name, target string) tf {
	return tf{hdr: tar.Header{Name: name, Typeflag: tar.TypeLink, Linkname: target}}
}

func owned(e tf, uid int) tf {
	e.hdr.Uid = uid
	return e
}

// tarBytes writes entries as an uncompressed tar stream.
func tarBytes(t testing.TB, entries ...tf) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		h := e.hdr
		h.Size = int64(len(e.body))
		h.ModTime = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func layer(t testing.TB, entries ...tf) v1.Layer {
	t.Helper()
	data := tarBytes(t, entries...)
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// image stacks layers (lowest first) and applies the config edit.
func image(t testing.TB, edit func(*v1.ConfigFile), layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	if edit != nil {
		edit(cf)
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func annotate(img v1.Image, a map[string]string) v1.Image {
	return mutate.Annotations(img, a).(v1.Image)
}

// goodBase is a clean, distroless-like layer: accounts for root, nobody and nonroot with locked
// passwords, a sticky /tmp, and a program.
func goodBase() []tf {
	return []tf{
		dir("etc/", 0o755),
		reg("etc/passwd", 0o644, "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"),
		reg("etc/group", 0o644, "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n"),
		reg("etc/shadow", 0o640, "root:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\nnonroot:!:19000:0:99999:7:::\n"),
		dir("tmp/", 0o1777),
		dir("usr/", 0o755),
		dir("usr/bin/", 0o755),
		reg("usr/bin/app", 0o755, "\x7fELF app"),
		dir("home/nonroot/", 0o700),
	}
}

func nonrootUser(cf *v1.ConfigFile) { cf.Config.User = "65532:65532" }
