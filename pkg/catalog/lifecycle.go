package catalog

import (
	"fmt"
	"slices"
	"strings"
)

// Ref names a version, or an image: "app" (every version), "app@1.2.3-r4" (an immutable tag),
// "app@1.2.3" (the newest active version of a release line), "app@latest" (the newest active version
// of the image), "app@sha256:…" (a digest: the version's, or one of its platform images').
type Ref struct {
	Image string
	// Version is a tag, a release line, "latest" or a digest; empty names the image.
	Version string
}

func (r Ref) String() string {
	if r.Version == "" {
		return r.Image
	}
	return r.Image + "@" + r.Version
}

// IsDigest reports whether the reference names a digest.
func (r Ref) IsDigest() bool { return strings.HasPrefix(r.Version, "sha256:") }

// ParseRef reads IMAGE[@VERSION].
func ParseRef(s string) (Ref, error) {
	img, ver, _ := strings.Cut(s, "@")
	if img == "" || strings.ContainsAny(img, " \t\n:") {
		return Ref{}, fmt.Errorf("%w: %q: want IMAGE or IMAGE@VERSION", ErrInvalid, s)
	}
	if strings.Contains(s, "@") && ver == "" {
		return Ref{}, fmt.Errorf("%w: %q: empty version after @", ErrInvalid, s)
	}
	return Ref{Image: img, Version: ver}, nil
}

// ParseStatus reads a status name.
func ParseStatus(s string) (Status, error) {
	st := Status(strings.ToLower(strings.TrimSpace(s)))
	if !slices.Contains(AllStatuses(), st) {
		return "", fmt.Errorf("%w: status %q (want %s)", ErrInvalid, s, strings.Join(statusNames(), ", "))
	}
	return st, nil
}

// AllStatuses lists the statuses in lifecycle order.
func AllStatuses() []Status {
	return []Status{StatusActive, StatusDeprecated, StatusRevoked, StatusEOL}
}

func statusNames() []string {
	var out []string
	for _, s := range AllStatuses() {
		out = append(out, string(s))
	}
	return out
}

// Transition says whether a published version may go from one status to another: active to any
// other; deprecated to revoked or end of life; and back to active ("restore") from deprecated,
// revoked or end of life. Staying in the same status is not a change. Backends call it inside the
// transaction that reads the current status, so concurrent changes cannot both pass.
func Transition(from, to Status) error {
	switch {
	case from == to:
		return fmt.Errorf("%w: the version is already %s", ErrTransition, to)
	case to == StatusActive:
		return nil // restore
	case from == StatusActive:
		return nil
	case from == StatusDeprecated && (to == StatusRevoked || to == StatusEOL):
		return nil
	case from == StatusEOL && to == StatusRevoked:
		return nil
	}
	return fmt.Errorf("%w: from %s to %s (restore it first)", ErrTransition, from, to)
}
