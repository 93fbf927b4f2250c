package imageref

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/ingot-build/ingot/pkg/fault"
	"github.com/ingot-build/ingot/pkg/publish"
)

// RegistryPrefix forces a reference to be read from a registry, as syft's "registry:" does, for a
// name that would otherwise be taken for a local path or a store entry ("registry:app.tar").
const RegistryPrefix = "registry:"

// Errors about how an image is named: all bad input.
var (
	// ErrNoSuchFile means a reference that names a local path (it starts with /, ./, ../ or ~, ends in
	// .tar, or has the oci: or docker-archive: prefix) names nothing. Such a reference is never looked
	// up in a registry.
	ErrNoSuchFile = fault.New(fault.Invalid, "no such file or directory")
	// ErrArchive means a docker archive exists but cannot be read as one: not a tar, compressed,
	// truncated, without manifest.json, or naming files it does not hold.
	ErrArchive = fault.New(fault.Invalid, "imageref: unreadable docker archive")
	// ErrLayout means an OCI layout exists but cannot be read as one: not a directory, no index.json
	// or one that does not parse, blobs missing or cut short.
	ErrLayout = fault.New(fault.Invalid, "imageref: unreadable OCI layout")
	// ErrReference means a reference is none of a store name, a layout, an archive or a registry
	// reference that parses.
	ErrReference = fault.New(fault.Invalid, "imageref: invalid image reference")
	// ErrPlatform means the platform asked for is not in the index, or not the single image's own.
	ErrPlatform = fault.New(fault.Invalid, "imageref: no such platform")
)

// maxDocument bounds the JSON documents read to check an archive or a layout (manifest.json,
// index.json); real ones are a few kilobytes.
const maxDocument = 16 << 20

// looksLikePath reports whether a reference names a local file or directory: it cannot be a registry
// reference (those start with a host or a repository name) or is an archive's file name. Such a
// reference that names nothing is an error, not a registry lookup.
func looksLikePath(ref string) bool {
	for _, p := range []string{"/", "./", "../", "~"} {
		if strings.HasPrefix(ref, p) {
			return true
		}
	}
	if ref == "." || ref == ".." {
		return true
	}
	for _, s := range []string{".tar", ".tar.gz", ".tgz"} {
		if strings.HasSuffix(ref, s) {
			return true
		}
	}
	return false
}

// noSuchFile reports a local path that does not exist; for a name that could also be a registry
// reference ("app.tar", "host/app.tar"), it says how to ask for that instead.
func noSuchFile(p, ref string) error {
	if _, err := name.ParseReference(ref); err != nil || p != ref || strings.HasPrefix(ref, ".") || strings.HasPrefix(ref, "/") || strings.HasPrefix(ref, "~") {
		return fmt.Errorf("%s: %w", p, ErrNoSuchFile)
	}
	return fmt.Errorf("%s: %w (for a registry image, name it %s%s)", p, ErrNoSuchFile, RegistryPrefix, ref)
}

// statInput stats a path the user named.
func statInput(p, ref string) (fs.FileInfo, error) {
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, noSuchFile(p, ref)
	}
	if err != nil {
		return nil, fault.Errorf(fault.Invalid, "reading %s: %w", p, err)
	}
	return fi, nil
}

// openPath opens a reference that looks like a path: a layout directory or a docker archive.
func openPath(ref string, opt Options) (*Set, error) {
	fi, err := statInput(ref, ref)
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		return openUserLayout(ref, "", ref, opt)
	}
	return openDockerArchive(ref, ref)
}

// openRegistry opens a registry reference, refusing one that does not parse before any request.
func openRegistry(ctx context.Context, ref string, opt Options) (*Set, error) {
	if _, err := name.ParseReference(ref); err != nil {
		return nil, fmt.Errorf("%w %q: not a store name, an OCI layout, a docker archive or a registry reference: %w", ErrReference, ref, err)
	}
	return openRemote(ctx, ref, opt)
}

// openUserLayout opens an OCI layout the user named, after checking that it is one, and checks that
// the blobs of the image it picks are all there, so a layout copied in part fails here, as bad input,
// rather than halfway through reading its layers.
func openUserLayout(dir, tag, ref string, opt Options) (*Set, error) {
	if err := checkLayout(dir, ref); err != nil {
		return nil, err
	}
	s, err := openLayout(dir, tag, ref, "oci", opt)
	if errors.Is(err, ErrNotFound) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrLayout, dir, err)
	}
	for _, img := range s.Images {
		if err := checkBlobs(dir, img); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// checkLayout checks that dir is a directory holding an index.json that parses as an image index.
func checkLayout(dir, ref string) error {
	fi, err := statInput(dir, ref)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%w: %s is a file, not an OCI layout directory (a docker archive is named docker-archive:FILE)", ErrLayout, dir)
	}
	f, err := os.Open(filepath.Join(dir, "index.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s is a directory without index.json, not an OCI layout", ErrLayout, dir)
	}
	if err != nil {
		return fmt.Errorf("%w %s: %w", ErrLayout, dir, err)
	}
	defer f.Close()
	var m v1.IndexManifest
	if err := json.NewDecoder(io.LimitReader(f, maxDocument)).Decode(&m); err != nil {
		return fmt.Errorf("%w: %s/index.json is not an OCI image index: %w", ErrLayout, dir, err)
	}
	return nil
}

// checkBlobs checks that the config and layer blobs of an image read from the layout at dir are
// present and as long as the manifest says (without reading them: their digests are checked when
// they are read). A missing or short blob is damage to the layout, as a blob that does not hash to its
// name is: publish.ErrIntegrity, not bad input.
func checkBlobs(dir string, img *Image) error {
	m, err := img.Manifest()
	if err != nil {
		return fmt.Errorf("%w %s: %w", ErrLayout, dir, err)
	}
	descs := append([]v1.Descriptor{m.Config}, m.Layers...)
	for _, d := range descs {
		if len(d.URLs) > 0 {
			continue // a foreign layer, fetched from its URLs
		}
		fi, err := os.Stat(filepath.Join(dir, "blobs", d.Digest.Algorithm, d.Digest.Hex))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("%w: %s lacks the blob %s (%s)", publish.ErrIntegrity, dir, d.Digest, d.MediaType)
		case err != nil:
			return fmt.Errorf("%w %s: %w", ErrLayout, dir, err)
		case fi.Size() < d.Size:
			return fmt.Errorf("%w: %s holds %d of the %d bytes of blob %s: truncated", publish.ErrIntegrity, dir, fi.Size(), d.Size, d.Digest)
		}
	}
	return nil
}

// openDockerArchive opens a docker save archive after checking that it is one, whole.
func openDockerArchive(p, ref string) (*Set, error) {
	toc, err := checkArchive(p, ref)
	if err != nil {
		return nil, err
	}
	s, err := openArchive(p, ref, toc)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrArchive, err)
	}
	return s, nil
}

// archiveMagics are the magic numbers of compressed archives, which go-containerregistry does not read.
var archiveMagics = []struct {
	magic []byte
	name  string
}{
	{[]byte{0x1f, 0x8b}, "gzip"},
	{[]byte{0x28, 0xb5, 0x2f, 0xfd}, "zstd"},
	{[]byte{0xfd, '7', 'z', 'X', 'Z', 0x00}, "xz"},
	{[]byte("BZh"), "bzip2"},
}

// checkArchive checks that p is an uncompressed tar, whole (every entry's data is there: tar.Reader
// seeks over them and notices a short file), holding a manifest.json that names files the archive
// holds, and returns where each of its files is and whether its layers are stored compressed. It
// reads the headers, manifest.json and the first bytes of the first layer only.
func checkArchive(p, ref string) (*archiveTOC, error) {
	fi, err := statInput(p, ref)
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("%w: %s is a directory, not a docker archive (an OCI layout is named oci:DIR)", ErrArchive, p)
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fault.Errorf(fault.Invalid, "reading %s: %w", p, err)
	}
	defer f.Close()
	head := make([]byte, 8)
	n, _ := io.ReadFull(f, head)
	for _, c := range archiveMagics {
		if bytes.HasPrefix(head[:n], c.magic) {
			return nil, fmt.Errorf("%w: %s is %s-compressed; ingot reads the uncompressed tar docker save writes (decompress it first)", ErrArchive, p, c.name)
		}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fault.Errorf(fault.Invalid, "reading %s: %w", p, err)
	}
	var manifest []byte
	oci := false
	entries := 0
	err = walkTar(f, func(h *tar.Header, r io.Reader) error {
		entries++
		switch path.Clean(h.Name) {
		case "manifest.json":
			data, err := io.ReadAll(io.LimitReader(r, maxDocument+1))
			if err != nil {
				return err
			}
			if len(data) > maxDocument {
				return fmt.Errorf("manifest.json is larger than %d bytes", maxDocument)
			}
			manifest = data
		case "oci-layout":
			oci = true
		}
		return nil
	})
	switch {
	case err != nil && entries == 0:
		return nil, fmt.Errorf("%w: %s is not a tar archive (a docker archive is what docker save writes): %w", ErrArchive, p, err)
	case err != nil:
		return nil, fmt.Errorf("%w: %s is truncated or damaged after %d entries: %w", ErrArchive, p, entries, err)
	case entries == 0:
		return nil, fmt.Errorf("%w: %s is an empty tar archive", ErrArchive, p)
	case manifest == nil && oci:
		return nil, fmt.Errorf("%w: %s is an OCI layout in a tar, not a docker archive: extract it and name the directory (oci:DIR)", ErrArchive, p)
	case manifest == nil:
		return nil, fmt.Errorf("%w: %s is a tar archive without manifest.json, not a docker archive", ErrArchive, p)
	}
	var m tarball.Manifest
	if err := json.Unmarshal(manifest, &m); err != nil {
		return nil, fmt.Errorf("%w: %s: manifest.json is not a docker archive manifest: %w", ErrArchive, p, err)
	}
	want := map[string]bool{}
	for _, d := range m {
		for _, n := range append([]string{d.Config}, d.Layers...) {
			want[path.Clean(n)] = true
		}
	}
	want0 := maps.Clone(want)
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fault.Errorf(fault.Invalid, "reading %s: %w", p, err)
	}
	first := ""
	if len(m) > 0 && len(m[0].Layers) > 0 {
		first = path.Clean(m[0].Layers[0])
	}
	toc := &archiveTOC{manifest: m, members: map[string]member{}}
	if err := walkTar(f, func(h *tar.Header, r io.Reader) error {
		n := path.Clean(h.Name)
		delete(want, n)
		if _, dup := toc.members[n]; dup || !want0[n] {
			return nil // go-containerregistry reads the first of a name
		}
		// tar.Reader reads headers a block at a time, unbuffered: the file is at the content.
		off, err := f.Seek(0, io.SeekCurrent)
		if err != nil {
			return err
		}
		toc.members[n] = member{off: off, size: h.Size, plain: h.Typeflag == tar.TypeReg && !sparse(h)}
		if n == first {
			// go-containerregistry reads every layer as compressed or none, as the first is.
			head := make([]byte, 4)
			k, _ := io.ReadFull(r, head)
			toc.compressed = bytes.HasPrefix(head[:k], []byte{0x1f, 0x8b}) || bytes.HasPrefix(head[:k], []byte{0x28, 0xb5, 0x2f, 0xfd})
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrArchive, p, err)
	}
	if len(want) > 0 {
		missing := slices.Sorted(maps.Keys(want))
		return nil, fmt.Errorf("%w: %s lacks %s, which its manifest.json names: truncated?", ErrArchive, p, strings.Join(missing, ", "))
	}
	return toc, nil
}

// sparse says whether h is a PAX sparse file (GNU tar's formats 0.0 to 1.0), which archive/tar
// reports as a regular file of its expanded size while fewer bytes are stored.
func sparse(h *tar.Header) bool {
	for k := range h.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

// walkTar calls fn for each entry of the tar in f. Entries fn does not read are skipped by seeking,
// so walking a large archive costs a read per header.
func walkTar(f *os.File, fn func(*tar.Header, io.Reader) error) error {
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(h, tr); err != nil {
			return err
		}
	}
}

// Local says whether ref names an image on this machine rather than in a registry, and what it names,
// for a message: an entry of the layout store that exists, an OCI layout directory, a docker archive,
// or anything that looks like a path, whether it exists or not. The commands that only work on
// registries (sign, attest, verify, copy) refuse such a name instead of sending it to a registry,
// where a store name such as "static:bookworm" would mean docker.io/library/static. registry:REF is
// never local.
func Local(ref string, l publish.Layouts) (what string, ok bool) {
	switch {
	case strings.HasPrefix(ref, RegistryPrefix):
		return "", false
	case strings.HasPrefix(ref, "oci:"):
		dir, _ := splitTag(strings.TrimPrefix(ref, "oci:"))
		return "the OCI layout " + dir, true
	case strings.HasPrefix(ref, "docker-archive:"):
		return "the docker archive " + strings.TrimPrefix(ref, "docker-archive:"), true
	case looksLikePath(ref):
		return "the local path " + ref, true
	}
	if fi, err := os.Stat(filepath.Join(ref, "index.json")); err == nil && !fi.IsDir() {
		return "the OCI layout " + ref, true
	}
	if dir, tag, ok := storeEntry(ref, l); ok {
		return fmt.Sprintf("ingot's local store (oci:%s:%s)", dir, tag), true
	}
	return "", false
}
