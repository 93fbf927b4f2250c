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

	"github.com/ingot-build/ingot/pkg/publish"
)

// ErrNotFound means the named image does not exist where the reference points.
var ErrNotFound = errors.New("image not found")

// Options say where to look and which platform to pick from an index.
type Options struct {
	// Layouts is ingot's layout store, for plain NAME[:TAG] references.
	Layouts publish.Layouts
	// Platform picks an image from an index. For Open the zero value means linux and the host's
	// architecture; for OpenAll it means every platform of the index, and a platform that is set must
	// be in the index (or be the single image's own).
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
	// Index is the index the image was picked from, if any, and Platform the platform its
	// descriptor in that index names.
	Index    v1.ImageIndex
	Platform *v1.Platform
}

// Set is everything a reference names: one image, or an index and its platform images.
type Set struct {
	// Ref is the reference as the user gave it, Kind how it was read (see Image).
	Ref, Kind string
	// Index is the index the reference names; nil for a single image.
	Index v1.ImageIndex
	// Images are the image, or the platform images of the index in index order (only those
	// matching Options.Platform when it is set). Descriptors of other kinds (attestation manifests,
	// nested indexes, platform "unknown/unknown") are not images to inspect and are left out.
	Images []*Image
}

// Digest is the digest of what the reference names: the index's, or the single image's.
func (s *Set) Digest() (v1.Hash, error) {
	if s.Index != nil {
		return s.Index.Digest()
	}
	return s.Images[0].Digest()
}

// Open resolves ref to an image; from an index, the image of opt.Platform (by default linux and the
// host's architecture). A reference that names a local path (see ErrNoSuchFile) is only ever read
// from disk; one with RegistryPrefix only from a registry. A path that names nothing, a file or
// directory that is not an image, or a reference that does not parse are errors of kind
// fault.Invalid.
func Open(ctx context.Context, ref string, opt Options) (*Image, error) {
	if opt.Platform.OS == "" {
		opt.Platform = v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
	}
	s, err := openSet(ctx, ref, opt, false)
	if err != nil {
		return nil, err
	}
	return s.Images[0], nil
}

// OpenAll resolves ref as Open does and returns everything it names: the image, or every platform
// image of an index, so that a stage covers each of them. With opt.Platform set, only that platform
// (a variant left empty matches any); a platform the index lacks, or that a single image is not
// for, is ErrPlatform (bad input), naming what there is.
func OpenAll(ctx context.Context, ref string, opt Options) (*Set, error) {
	return openSet(ctx, ref, opt, opt.Platform.OS != "" || opt.Platform.Architecture != "")
}

// openSet opens ref. Without strict, a single image is returned whatever its platform (Open's
// behaviour); with strict, it must match opt.Platform.
func openSet(ctx context.Context, ref string, opt Options, strict bool) (*Set, error) {
	s, err := openRef(ctx, ref, opt)
	if err != nil {
		return nil, err
	}
	if strict && s.Index == nil {
		if err := checkPlatform(s.Images[0], opt.Platform); err != nil {
			return nil, fmt.Errorf("%s: %w", ref, err)
		}
	}
	return s, nil
}

func openRef(ctx context.Context, ref string, opt Options) (*Set, error) {
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
	if dir, tag, ok := storeEntry(ref, opt.Layouts); ok {
		return openLayout(dir, tag, ref, "store", opt)
	}
	return openRegistry(ctx, ref, opt)
}

// storeEntry is the layout directory and tag of a plain NAME[:TAG] that names an image name in the
// layout store.
func storeEntry(ref string, l publish.Layouts) (dir, tag string, ok bool) {
	if l.Root == "" || strings.ContainsAny(ref, "/@") {
		return "", "", false
	}
	n, tag := splitTag(ref)
	if tag == "" {
		tag = "latest"
	}
	if n == "" {
		return "", "", false
	}
	if _, err := os.Stat(l.Dir(n)); err != nil {
		return "", "", false
	}
	return l.Dir(n), tag, true
}

// checkPlatform refuses a single image that is not for the platform asked for.
func checkPlatform(img *Image, want v1.Platform) error {
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	have := v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}
	if !matches(have, want) {
		return fmt.Errorf("%w: %s is not an index but a single %s image", ErrPlatform, want.String(), have.String())
	}
	return nil
}

// matches reports whether an image for have serves a request for want: same OS and architecture,
// and the same variant unless want leaves it empty.
func matches(have, want v1.Platform) bool {
	return have.OS == want.OS && have.Architecture == want.Architecture && (want.Variant == "" || have.Variant == want.Variant)
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
func openLayout(dir, tag, ref, kind string, opt Options) (*Set, error) {
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
		imgs, err := fromIndex(child, opt.Platform, func(i v1.Image) v1.Image { return i })
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ref, err)
		}
		return indexSet(ref, kind, child, imgs), nil
	}
	img, err := l.Image(*pick)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref, err)
	}
	return single(&Image{Image: img, Ref: ref, Kind: kind}), nil
}

func single(img *Image) *Set {
	return &Set{Ref: img.Ref, Kind: img.Kind, Images: []*Image{img}}
}

// indexSet fills in where each platform image came from.
func indexSet(ref, kind string, ii v1.ImageIndex, imgs []*Image) *Set {
	for _, i := range imgs {
		i.Ref, i.Kind, i.Index = ref, kind, ii
	}
	return &Set{Ref: ref, Kind: kind, Index: ii, Images: imgs}
}

func openRemote(ctx context.Context, ref string, opt Options) (*Set, error) {
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
		imgs, err := fromIndex(ii, opt.Platform, func(i v1.Image) v1.Image { return registryImage{i} })
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ref, err)
		}
		return indexSet(ref, "registry", ii, imgs), nil
	}
	img, err := desc.Image()
	if err != nil {
		return nil, err
	}
	return single(&Image{Image: registryImage{img}, Ref: ref, Kind: "registry"}), nil
}

// fromIndex opens the platform images of an index, in index order: all of them when want is the zero
// value, else those matching want. wrap adapts each image to how its source is read. Descriptors
// without a platform, of platform "unknown" (buildkit's attestation manifests) or that are not
// images are not images to inspect.
func fromIndex(ii v1.ImageIndex, want v1.Platform, wrap func(v1.Image) v1.Image) ([]*Image, error) {
	m, err := ii.IndexManifest()
	if err != nil {
		return nil, err
	}
	var have []string
	var out []*Image
	for _, d := range m.Manifests {
		if d.Platform == nil || d.Platform.OS == "unknown" || !d.MediaType.IsImage() {
			continue
		}
		have = append(have, d.Platform.String())
		if want.OS != "" && !matches(*d.Platform, want) {
			continue
		}
		img, err := ii.Image(d.Digest)
		if err != nil {
			return nil, fmt.Errorf("the %s image %s: %w", d.Platform, d.Digest, err)
		}
		p := *d.Platform
		out = append(out, &Image{Image: wrap(img), Platform: &p})
		if want.OS != "" {
			break // the first match, as docker and crane pick
		}
	}
	if len(out) == 0 {
		if want.OS == "" {
			return nil, fmt.Errorf("%w: the index holds no platform image", ErrNotFound)
		}
		return nil, fmt.Errorf("%w: %w: no %s image in the index (it has %s)", ErrPlatform, ErrNotFound, want.String(), strings.Join(have, ", "))
	}
	return out, nil
}
