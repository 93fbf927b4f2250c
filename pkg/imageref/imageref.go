package imageref

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/ingot-build/ingot/pkg/publish"
)

// ErrNotFound means the named image does not exist where the reference points.
var ErrNotFound = errors.New("image not found")

// Options say where to look and which platform to pick from an index.
type Options struct {
	// Layouts is ingot's layout store, for plain NAME[:TAG] references.
	Layouts publish.Layouts
	// Platform picks an image from an index; the zero value means linux and the host's architecture.
	Platform v1.Platform
	// Remote options for registry references (transport, auth).
	Remote []remote.Option
}

// Image is an opened image and where it came from.
type Image struct {
	v1.Image
	// Ref is the reference as the user gave it, Kind how it was read: "store", "oci", "docker-archive"
	// or "registry".
	Ref, Kind string
	// Index is the index the image was picked from, if any.
	Index v1.ImageIndex
}

// Open resolves ref to an image. A reference that names a local path (see ErrNoSuchFile) is only
// ever read from disk; one with RegistryPrefix only from a registry. A path that names nothing, a file
// or directory that is not an image, or a reference that does not parse are errors of kind
// fault.Invalid.
func Open(ctx context.Context, ref string, opt Options) (*Image, error) {
	if opt.Platform.OS == "" {
		opt.Platform = v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
	}
	switch {
	case strings.HasPrefix(ref, RegistryPrefix):
		return openRegistry(ctx, strings.TrimPrefix(ref, RegistryPrefix), opt)
	case strings.HasPrefix(ref, "oci:"):
		dir, tag := splitTag(strings.TrimPrefix(ref, "oci:"))
		return openUserLayout(dir, tag, ref, opt)
	case strings.HasPrefix(ref, "docker-archive:"):
		return openDockerArchive(strings.TrimPrefix(ref, "docker-archive:"), ref)
	case looksLikePath(ref):
		return openPath(ref, opt)
	}
	if fi, err := os.Stat(filepath.Join(ref, "index.json")); err == nil && !fi.IsDir() {
		return openUserLayout(ref, "", ref, opt)
	}
	if opt.Layouts.Root != "" && !strings.ContainsAny(ref, "/@") {
		n, tag := splitTag(ref)
		if tag == "" {
			tag = "latest"
		}
		if _, err := os.Stat(opt.Layouts.Dir(n)); err == nil {
			return openLayout(opt.Layouts.Dir(n), tag, ref, "store", opt)
		}
	}
	return openRegistry(ctx, ref, opt)
}

// splitTag splits "x:tag" at the last colon that is not part of a path.
func splitTag(s string) (string, string) {
	i := strings.LastIndex(s, ":")
	if i < 0 || strings.Contains(s[i:], "/") {
		return s, ""
	}
	return s[:i], s[i+1:]
}

// openLayout opens an image of the OCI layout in dir through publish.Layout, which checks every blob
// against its digest as it is read.
func openLayout(dir, tag, ref, kind string, opt Options) (*Image, error) {
	l := publish.Layout{Dir: dir}
	m, err := l.IndexManifest()
	if err != nil {
		return nil, err
	}
	var pick *v1.Descriptor
	for i, d := range m.Manifests {
		if tag == "" || d.Annotations[publish.RefNameAnnotation] == tag {
			if pick != nil && tag == "" {
				return nil, fmt.Errorf("OCI layout %s holds several images: name one with oci:%s:TAG", dir, dir)
			}
			pick = &m.Manifests[i]
		}
	}
	if pick == nil {
		return nil, fmt.Errorf("%s: %w (no entry with ref.name %q)", dir, ErrNotFound, tag)
	}
	if pick.MediaType.IsIndex() {
		child, err := l.ImageIndex(*pick)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ref, err)
		}
		img, err := fromIndex(child, opt.Platform)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ref, err)
		}
		return &Image{Image: img, Ref: ref, Kind: kind, Index: child}, nil
	}
	img, err := l.Image(*pick)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref, err)
	}
	return &Image{Image: img, Ref: ref, Kind: kind}, nil
}

func openArchive(path, ref string) (*Image, error) {
	img, err := tarball.ImageFromPath(path, nil)
	if err != nil {
		return nil, fmt.Errorf("opening docker archive %s: %w", path, err)
	}
	return &Image{Image: img, Ref: ref, Kind: "docker-archive"}, nil
}

func openRemote(ctx context.Context, ref string, opt Options) (*Image, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, fmt.Errorf("%q is not a store name, layout, archive or registry reference: %w", ref, err)
	}
	ropts := append([]remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)}, opt.Remote...)
	desc, err := remote.Get(r, ropts...)
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", r, err)
	}
	if desc.MediaType.IsIndex() {
		ii, err := desc.ImageIndex()
		if err != nil {
			return nil, err
		}
		img, err := fromIndex(ii, opt.Platform)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ref, err)
		}
		return &Image{Image: registryImage{img}, Ref: ref, Kind: "registry", Index: ii}, nil
	}
	img, err := desc.Image()
	if err != nil {
		return nil, err
	}
	return &Image{Image: registryImage{img}, Ref: ref, Kind: "registry"}, nil
}

func fromIndex(ii v1.ImageIndex, want v1.Platform) (v1.Image, error) {
	m, err := ii.IndexManifest()
	if err != nil {
		return nil, err
	}
	var have []string
	for _, d := range m.Manifests {
		if d.Platform == nil {
			continue
		}
		if d.Platform.OS == want.OS && d.Platform.Architecture == want.Architecture && (want.Variant == "" || d.Platform.Variant == want.Variant) {
			return ii.Image(d.Digest)
		}
		have = append(have, d.Platform.String())
	}
	return nil, fmt.Errorf("%w: no %s image in the index (it has %s)", ErrNotFound, want.String(), strings.Join(have, ", "))
}
