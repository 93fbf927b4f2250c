package build_test

import (
	"archive/tar"
	"bytes"
	stdgzip "compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ingot-build/ingot/internal/debtest"
	"github.com/ingot-build/ingot/pkg/build"
)

func sized(t testing.TB, name, source string, size int) build.Package {
	return pkg(t, debtest.Package{Name: name, Source: source, Files: []debtest.File{
		{Path: "usr/lib/" + name + "/data", Body: bytes.Repeat([]byte{'x'}, size)},
		{Path: "usr/share/doc/" + name + "/copyright", Body: []byte(name + "\n")},
	}})
}

func layerNames(t testing.TB, l v1.Layer) []string {
	hdrs, _ := layerHeaders(t, l)
	names := make([]string, len(hdrs))
	for i, h := range hdrs {
		names[i] = h.Name
	}
	return names
}

func TestLayerBudget(t *testing.T) {
	libc6 := sized(t, "libc6", "glibc", 20000)
	libcBin := sized(t, "libc-bin", "glibc", 5000)
	zlib := sized(t, "zlib1g", "zlib", 8000)
	libssl := sized(t, "libssl3t64", "openssl", 30000)
	tiny := sized(t, "tzdata", "", 10)
	opt := build.Options{
		Arch:     "amd64",
		Packages: []build.Package{libc6, libcBin, zlib, libssl, tiny},
		Accounts: nonroot(),
		Files:    []build.File{{Path: "/usr/lib/app/app", Mode: 0o755, Data: []byte("app")}},
		Epoch:    testEpoch(),
		Layers:   3,
	}
	img := mustImage(t, opt)
	checkImage(t, img)
	ls := layers(t, img)
	if len(ls) != 3 {
		t.Fatalf("%d layers, want 3", len(ls))
	}
	// glibc (25000 bytes) and openssl (30000) are the two largest sources; they keep package order.
	want := [][]string{
		{"usr/", "usr/lib/", "usr/lib/libc-bin/", "usr/lib/libc-bin/data", "usr/lib/libc6/", "usr/lib/libc6/data",
			"usr/share/", "usr/share/doc/", "usr/share/doc/libc-bin/", "usr/share/doc/libc-bin/copyright", "usr/share/doc/libc6/", "usr/share/doc/libc6/copyright"},
		{"usr/", "usr/lib/", "usr/lib/libssl3t64/", "usr/lib/libssl3t64/data", "usr/share/", "usr/share/doc/", "usr/share/doc/libssl3t64/", "usr/share/doc/libssl3t64/copyright"},
	}
	for i, w := range want {
		if got := layerNames(t, ls[i]); strings.Join(got, " ") != strings.Join(w, " ") {
			t.Errorf("layer %d:\n got %q\nwant %q", i, got, w)
		}
	}
	rest := strings.Join(layerNames(t, ls[2]), " ")
	for _, p := range []string{"usr/lib/zlib1g/data", "usr/lib/tzdata/data", "etc/passwd", "var/lib/dpkg/status.d/libc6", "usr/lib/app/app", "tmp/"} {
		if !strings.Contains(rest, p) {
			t.Errorf("last layer lacks %s: %s", p, rest)
		}
	}
	if strings.Contains(rest, "libc6/data") || strings.Contains(rest, "libssl3t64/data") {
		t.Errorf("last layer repeats grouped packages: %s", rest)
	}
	cf := configFile(t, img)
	wantHist := []string{
		"ingot: source glibc: 2 packages (libc6, libc-bin)",
		"ingot: source openssl: 1 package (libssl3t64)",
		"ingot: 2 packages (zlib1g, tzdata), package database, accounts and files",
	}
	for i, h := range cf.History {
		if i >= len(wantHist) || h.CreatedBy != wantHist[i] {
			t.Errorf("history[%d] = %q", i, h.CreatedBy)
		}
	}

	t.Run("same file system as one layer", func(t *testing.T) {
		one := opt
		one.Layers = 1
		single := mustImage(t, one)
		if n := len(layers(t, single)); n != 1 {
			t.Fatalf("%d layers, want 1", n)
		}
		a, b := flatten(t, img), flatten(t, single)
		if la, lb := listing(a), listing(b); !bytes.Equal(la, lb) {
			t.Errorf("layered:\n%s\nsingle:\n%s", la, lb)
		}
		for p, e := range b {
			if !bytes.Equal(a[p].data, e.data) {
				t.Errorf("%s differs", p)
			}
		}
	})

	t.Run("images sharing a source share its layer", func(t *testing.T) {
		other := build.Options{
			Arch:     "amd64",
			Packages: []build.Package{libc6, libcBin, sized(t, "hello", "hello", 100)},
			Accounts: build.Accounts{RunAs: "0"},
			Epoch:    testEpoch(),
			Layers:   2,
		}
		ols := layers(t, mustImage(t, other))
		if len(ols) != 2 {
			t.Fatalf("%d layers, want 2", len(ols))
		}
		if a, b := digest(t, ls[0]), digest(t, ols[0]); a != b {
			t.Errorf("glibc layer %s in one image, %s in the other", a, b)
		}
		if a, b := digest(t, ls[2]), digest(t, ols[1]); a == b {
			t.Error("different last layers share a digest")
		}
	})

	t.Run("budget larger than the number of sources", func(t *testing.T) {
		many := opt
		many.Layers = 10
		// glibc, zlib, openssl, tzdata, and the generated files.
		if n := len(layers(t, mustImage(t, many))); n != 5 {
			t.Errorf("%d layers, want 5", n)
		}
	})
}

// whiteoutLayer removes names from the image below it, as docker and buildkit record deletions.
func whiteoutLayer(t testing.TB, names ...string) v1.Layer {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, n := range names {
		dir, base := parentDir(n), n[strings.LastIndexByte(n, '/')+1:]
		if err := tw.WriteHeader(&tar.Header{Name: dir + "/.wh." + base, Typeflag: tar.TypeReg, Mode: 0o644}); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b.Bytes())), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestBaseImage(t *testing.T) {
	base0 := mustImage(t, build.Options{
		Arch:     "amd64",
		Packages: []build.Package{baseFiles(t), libc6(t)},
		Config:   build.Config{Env: []string{"FROM_BASE=1"}, Cmd: []string{"/bin/base"}},
		Epoch:    testEpoch(),
	})
	// A Docker-typed layer on top that deletes the os-release files and debian_version.
	base, err := mutate.Append(base0, mutate.Addendum{Layer: whiteoutLayer(t, "usr/lib/os-release", "etc/os-release", "etc/debian_version"), History: v1.History{CreatedBy: "rm"}})
	if err != nil {
		t.Fatal(err)
	}
	baseLayers := layers(t, base)

	img := mustImage(t, build.Options{
		Arch:      "amd64",
		Base:      base,
		Packages:  []build.Package{busybox(t)},
		Accounts:  nonroot(),
		Config:    build.Config{Env: []string{"FROM_BASE=2"}},
		Epoch:     testEpoch(),
		OSRelease: build.OSRelease{ID: "debian", VersionID: "13"},
	})
	checkImage(t, img)
	ls := layers(t, img)
	if len(ls) != len(baseLayers)+1 {
		t.Fatalf("%d layers, want %d", len(ls), len(baseLayers)+1)
	}
	for i := range baseLayers {
		if digest(t, ls[i]) != digest(t, baseLayers[i]) {
			t.Errorf("base layer %d changed", i)
		}
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range m.Layers {
		if d.MediaType != types.OCILayer {
			t.Errorf("layer %s has media type %s in an OCI manifest", d.Digest, d.MediaType)
		}
	}
	if m.Annotations[build.AnnotationBaseDigest] != digest(t, base).String() {
		t.Errorf("base digest annotation %q", m.Annotations[build.AnnotationBaseDigest])
	}

	ours := map[string]bool{}
	for _, n := range layerNames(t, ls[len(ls)-1]) {
		ours[n] = true
	}
	for _, p := range []string{"usr/bin/busybox", "usr/bin/ash", "etc/os-release", "var/lib/dpkg/status.d/busybox", "usr/", "usr/bin/"} {
		if !ours[p] {
			t.Errorf("our layer lacks %s", p)
		}
	}
	for _, p := range []string{"bin/busybox", "bin/", "usr/lib/x86_64-linux-gnu/libc.so.6", "var/lib/dpkg/status.d/libc6", "etc/debian_version"} {
		if ours[p] {
			t.Errorf("our layer has %s", p)
		}
	}

	fsys := flatten(t, img)
	if e := fsys["bin"]; e.hdr == nil || e.hdr.Typeflag != tar.TypeSymlink {
		t.Error("base symlink bin was replaced")
	}
	if got := string(fsys["etc/os-release"].data); !strings.Contains(got, `ID="debian"`) {
		t.Errorf("os-release not regenerated after the base deleted it: %q", got)
	}
	if _, ok := fsys["etc/debian_version"]; ok {
		t.Error("whited-out etc/debian_version is back")
	}
	if _, ok := fsys["usr/lib/x86_64-linux-gnu/libc.so.6"]; !ok {
		t.Error("base libc missing")
	}

	cf := configFile(t, img)
	if env := strings.Join(cf.Config.Env, " "); !strings.HasPrefix(env, "FROM_BASE=2 PATH=") || strings.Count(env, "PATH=") != 1 {
		t.Errorf("Env %q: want base order with our override and one PATH", cf.Config.Env)
	}
	if len(cf.Config.Cmd) != 1 || cf.Config.Cmd[0] != "/bin/base" {
		t.Errorf("Cmd %q, want the base's", cf.Config.Cmd)
	}
	if len(cf.History) != 3 || cf.History[1].CreatedBy != "rm" {
		t.Errorf("history %+v", cf.History)
	}

	t.Run("metadata changes to base directories reach our layer", func(t *testing.T) {
		img := mustImage(t, build.Options{Arch: "amd64", Base: base, Epoch: testEpoch(), Paths: []build.PathOp{
			{Path: "/lib", Type: build.PathDirectory, Mode: 0o750, UID: 1, GID: 1},
			{Path: "/etc", Type: build.PathPermissions, UID: 2, GID: 2},
		}})
		fsys := flatten(t, img)
		for p, want := range map[string]string{"usr/lib": "0750 1:1", "etc": "0755 2:2"} {
			h := fsys[p].hdr
			if got := fmt.Sprintf("%04o %d:%d", h.Mode, h.Uid, h.Gid); got != want {
				t.Errorf("%s: %s, want %s", p, got, want)
			}
		}
		if h := fsys["lib"].hdr; h.Typeflag != tar.TypeSymlink {
			t.Errorf("lib is no longer a symlink: %c", h.Typeflag)
		}
	})

	t.Run("hardlink to a base file", func(t *testing.T) {
		link := pkg(t, debtest.Package{Name: "linker", Files: []debtest.File{{Path: "usr/lib/libc-copy.so", Hardlink: "usr/lib/x86_64-linux-gnu/libc.so.6"}}})
		_, err := build.Image(context.Background(), build.Options{Arch: "amd64", Base: base, Packages: []build.Package{link}, Epoch: testEpoch()})
		if !errors.Is(err, build.ErrBaseContent) {
			t.Fatalf("error %v, want ErrBaseContent", err)
		}
	})
}

func TestIndex(t *testing.T) {
	all := pkg(t, debtest.Package{Name: "data", Arch: "all", Files: []debtest.File{{Path: "usr/share/data", Body: []byte("d")}}})
	amd := mustImage(t, build.Options{Arch: "amd64", Packages: []build.Package{all}, Epoch: testEpoch()})
	arm := mustImage(t, build.Options{Arch: "arm64", Packages: []build.Package{all}, Epoch: testEpoch()})
	ann := map[string]string{"org.opencontainers.image.version": "1.0"}

	idx, err := build.Index([]v1.Image{arm, amd}, ann)
	if err != nil {
		t.Fatal(err)
	}
	checkIndex(t, idx)
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if im.MediaType != types.OCIImageIndex || im.Annotations["org.opencontainers.image.version"] != "1.0" {
		t.Errorf("index media type %s annotations %v", im.MediaType, im.Annotations)
	}
	var plats []string
	for _, d := range im.Manifests {
		plats = append(plats, d.Platform.String())
		if d.MediaType != types.OCIManifestSchema1 {
			t.Errorf("%s: media type %s", d.Platform, d.MediaType)
		}
	}
	if strings.Join(plats, " ") != "linux/amd64 linux/arm64/v8" {
		t.Errorf("platforms %v", plats)
	}
	if im.Manifests[0].Digest != digest(t, amd) || im.Manifests[1].Digest != digest(t, arm) {
		t.Error("descriptors do not point at the images")
	}

	again, err := build.Index([]v1.Image{amd, arm}, ann)
	if err != nil {
		t.Fatal(err)
	}
	if digest(t, again) != digest(t, idx) {
		t.Error("index digest depends on the order of images")
	}
	if _, err := build.Index([]v1.Image{amd, amd}, nil); !errors.Is(err, build.ErrInvalidOptions) {
		t.Errorf("duplicate platform: error %v", err)
	}
}

// TestLargeLayer covers layers compressed in several blocks: the stream must be one valid gzip member
// for the standard library's reader too, not only for the one that wrote it.
func TestLargeLayer(t *testing.T) {
	big := make([]byte, 3<<20+12345)
	state := uint32(1)
	for i := range big {
		if i%3 == 0 {
			state = state*1664525 + 1013904223
			big[i] = byte(state >> 24)
		} else {
			big[i] = byte(i / 4096)
		}
	}
	opt := build.Options{Arch: "amd64", Epoch: testEpoch(), Packages: []build.Package{
		pkg(t, debtest.Package{Name: "big", Files: []debtest.File{{Path: "usr/lib/big.so", Body: big}, {Path: "usr/lib/small", Body: []byte("s")}}}),
	}}
	img := mustImage(t, opt)
	checkImage(t, img)
	l := layers(t, img)[0]
	rc, err := l.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	zr, err := stdgzip.NewReader(rc)
	if err != nil {
		t.Fatal(err)
	}
	zr.Multistream(false)
	h, _, err := v1.SHA256(zr)
	if err != nil {
		t.Fatalf("standard gzip reader: %v", err)
	}
	if diffID, _ := l.DiffID(); h != diffID {
		t.Errorf("standard gzip reader gives %s, diff ID %s", h, diffID)
	}
	if got := flatten(t, img)["usr/lib/big.so"].data; !bytes.Equal(got, big) {
		t.Errorf("big.so differs after the round trip (%d bytes, want %d)", len(got), len(big))
	}
	if d := digest(t, mustImage(t, opt)); d != digest(t, img) {
		t.Error("multi-block layer is not reproducible")
	}
}
