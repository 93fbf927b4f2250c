package policy

import (
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
)

// DockerHub is the name every alias of Docker Hub's registry normalises to.
const DockerHub = "docker.io"

// dockerHubAliases are the host names that reach Docker Hub: a pod may name an image through any of
// them, and a policy must not be escaped by picking another spelling.
var dockerHubAliases = map[string]bool{"docker.io": true, "index.docker.io": true, "registry-1.docker.io": true}

// The grammar of distribution's reference package (docker/distribution/reference, which containerd
// and the kubelet use), in parts.
var (
	pathComponent = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*$`) })
	hostPart      = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::[0-9]{1,5})?$`)
	})
	tagPattern   = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`) })
	sha256Digest = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^sha256:[0-9a-f]{64}$`) })
)

// Image is an image reference as a pod spec writes it, and its normalised form: the form policies
// match, so that every spelling of one image (host case, a default port, Docker Hub's aliases and its
// library/ namespace, no tag) is one name.
type Image struct {
	// Written is the reference as it was given.
	Written string `json:"written"`
	// Registry is the host[:port], lower case, without the default HTTPS port 443; Docker Hub is
	// "docker.io" whichever alias was written.
	Registry string `json:"registry"`
	// Repository is the path in the registry; on Docker Hub a single name gets "library/".
	Repository string `json:"repository"`
	// Tag is the tag written, or "latest" when neither a tag nor a digest was; empty with a digest only.
	Tag string `json:"tag,omitempty"`
	// Digest is the digest written (sha256:...), if any.
	Digest string `json:"digest,omitempty"`
}

// Name is registry/repository.
func (i Image) Name() string { return i.Registry + "/" + i.Repository }

// String is the normalised reference: registry/repository[:tag][@digest].
func (i Image) String() string {
	s := i.Name()
	if i.Tag != "" {
		s += ":" + i.Tag
	}
	if i.Digest != "" {
		s += "@" + i.Digest
	}
	return s
}

// Repo is the repository to fetch from (Docker Hub's through its registry host, as ggcr does).
func (i Image) Repo() (name.Repository, error) {
	return name.NewRepository(i.Name(), name.StrictValidation)
}

// TagRef is the tag to resolve; ok is false for a reference with a digest only.
func (i Image) TagRef() (name.Tag, bool, error) {
	if i.Tag == "" {
		return name.Tag{}, false, nil
	}
	t, err := name.NewTag(i.Name()+":"+i.Tag, name.StrictValidation)
	return t, err == nil, err
}

// DigestRef is the image at digest d in this repository.
func (i Image) DigestRef(d string) (name.Digest, error) {
	return name.NewDigest(i.Name()+"@"+d, name.StrictValidation)
}

// ParseImage reads an image reference as the kubelet's runtime does (distribution's grammar: the first
// path component is a registry when it has a dot, a colon or upper case, or is localhost; otherwise
// the image is on Docker Hub), and normalises it. Only sha256 digests are accepted. A reference that
// does not parse is an error: admission denies it, since no one can say what it would run.
func ParseImage(s string) (Image, error) {
	img := Image{Written: s}
	if s == "" || strings.TrimSpace(s) != s || strings.ContainsAny(s, " \t\r\n") {
		return img, fmt.Errorf("%w: image reference %q has white space or is empty", ErrReference, s)
	}
	rest := s
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		img.Digest = rest[at+1:]
		rest = rest[:at]
		if !sha256Digest().MatchString(img.Digest) {
			return img, fmt.Errorf("%w: %q: the digest %q is not sha256:<64 hex digits>", ErrReference, s, img.Digest)
		}
	}
	if colon := strings.LastIndex(rest, ":"); colon > strings.LastIndex(rest, "/") {
		img.Tag = rest[colon+1:]
		rest = rest[:colon]
		if !tagPattern().MatchString(img.Tag) {
			return img, fmt.Errorf("%w: %q: the tag %q is not a valid tag", ErrReference, s, img.Tag)
		}
	}
	host, path := DockerHub, rest
	if slash := strings.Index(rest, "/"); slash >= 0 {
		first := rest[:slash]
		if strings.ContainsAny(first, ".:") || first == "localhost" || strings.ToLower(first) != first {
			host, path = first, rest[slash+1:]
		}
	}
	if !hostPart().MatchString(host) {
		return img, fmt.Errorf("%w: %q: %q is not a registry host", ErrReference, s, host)
	}
	img.Registry = NormaliseRegistry(host)
	for _, c := range strings.Split(path, "/") {
		if !pathComponent().MatchString(c) {
			return img, fmt.Errorf("%w: %q: the repository %q is not a valid repository name (lower case letters, digits and separators)", ErrReference, s, path)
		}
	}
	if img.Registry == DockerHub && !strings.Contains(path, "/") {
		path = "library/" + path
	}
	img.Repository = path
	if len(img.Name()) > 255 {
		return img, fmt.Errorf("%w: %q: the name is longer than 255 characters", ErrReference, s)
	}
	if img.Tag == "" && img.Digest == "" {
		img.Tag = "latest"
	}
	return img, nil
}

// NormaliseRegistry lowers a registry host's case, drops the default HTTPS port and names Docker
// Hub's aliases "docker.io".
func NormaliseRegistry(host string) string {
	h := strings.ToLower(host)
	h = strings.TrimSuffix(h, ":443")
	if dockerHubAliases[h] {
		return DockerHub
	}
	return h
}
