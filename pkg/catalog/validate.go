package catalog

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// digestRE is a sha256 manifest digest, the only kind ingot writes.
var digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// lineRE is what a release line may be: it becomes the first part of an OCI tag ("<line>-r<serial>"),
// so it follows the tag grammar, leaving room for the serial.
var lineRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,100}$`)

// ValidName checks an image or spec name: what ParseRef reads before the "@".
func ValidName(name string) error {
	if name == "" || strings.ContainsAny(name, " \t\r\n:@") || len(name) > 255 {
		return fmt.Errorf("%w: name %q (want a non-empty image name without spaces, ':' or '@')", ErrInvalid, name)
	}
	return nil
}

// ValidDigest checks a manifest digest ("sha256:" and 64 lowercase hex digits).
func ValidDigest(d string) error {
	if !digestRE.MatchString(d) {
		return fmt.Errorf("%w: digest %q (want sha256:<64 hex digits>)", ErrInvalid, d)
	}
	return nil
}

// Validate checks what Begin records: names, digests, platforms. Times and kind are defaults a
// backend fills in (the build's time, a container).
func (v *Version) Validate() error {
	if err := ValidName(v.Image); err != nil {
		return err
	}
	if !lineRE.MatchString(v.Line) {
		return fmt.Errorf("%w: release line %q (want letters, digits, '.', '_' or '-', as in an OCI tag)", ErrInvalid, v.Line)
	}
	if v.Kind != "" && v.Kind != KindContainer && v.Kind != KindVM {
		return fmt.Errorf("%w: kind %q (want %s or %s)", ErrInvalid, v.Kind, KindContainer, KindVM)
	}
	if err := ValidDigest(v.Digest); err != nil {
		return err
	}
	if len(v.Platforms) == 0 {
		return fmt.Errorf("%w: version %s has no platform", ErrInvalid, v.Digest)
	}
	seen := map[string]bool{}
	for _, p := range v.Platforms {
		if err := ValidDigest(p.Digest); err != nil {
			return fmt.Errorf("platform %s: %w", p.Name(), err)
		}
		if p.OS == "" || p.Arch == "" {
			return fmt.Errorf("%w: platform %s: os and architecture are required", ErrInvalid, p.Digest)
		}
		if seen[p.Digest] {
			return fmt.Errorf("%w: platform %s listed twice", ErrInvalid, p.Digest)
		}
		seen[p.Digest] = true
	}
	return nil
}

// Validate checks a publication's locations and artifacts.
func (p Publication) Validate() error {
	for _, l := range p.Locations {
		if (l.Kind != LocationLayout && l.Kind != LocationRegistry) || l.Ref == "" {
			return fmt.Errorf("%w: location %q %q (want kind %s or %s and a reference)", ErrInvalid, l.Kind, l.Ref, LocationLayout, LocationRegistry)
		}
	}
	for _, a := range p.Artifacts {
		if (a.Kind != ArtifactSignature && a.Kind != ArtifactAttestation) || a.Ref == "" || a.Subject == "" {
			return fmt.Errorf("%w: artifact %q of %q at %q (want kind %s or %s, a subject and a reference)", ErrInvalid, a.Kind, a.Subject, a.Ref, ArtifactSignature, ArtifactAttestation)
		}
	}
	return nil
}

// Validate checks a requested status change: a known status and a reason (every change says why).
func (c StatusChange) Validate() error {
	if !slices.Contains(AllStatuses(), c.Status) {
		// Exactly a status's name: ParseStatus, for people, also takes "Revoked", which would be
		// stored as written.
		return fmt.Errorf("%w: status %q (want %s)", ErrInvalid, c.Status, strings.Join(statusNames(), ", "))
	}
	if strings.TrimSpace(c.Reason) == "" {
		return fmt.Errorf("%w: a status change needs a reason", ErrInvalid)
	}
	return nil
}

// Validate checks a note: every flag says why.
func (n Note) Validate() error {
	if strings.TrimSpace(n.Reason) == "" {
		return fmt.Errorf("%w: a flag needs a reason", ErrInvalid)
	}
	if len(n.Detail) > 0 && !json.Valid(n.Detail) {
		return fmt.Errorf("%w: a flag's detail must be JSON", ErrInvalid)
	}
	return nil
}

// ParseTag splits an immutable tag "1.2.3-r4" into its release line and serial; ok is false for
// anything else (a release line, "latest", a digest).
func ParseTag(tag string) (line string, serial int, ok bool) {
	i := strings.LastIndex(tag, "-r")
	if i <= 0 {
		return "", 0, false
	}
	n, err := strconv.Atoi(tag[i+2:])
	if err != nil || n < 1 || strconv.Itoa(n) != tag[i+2:] {
		return "", 0, false
	}
	return tag[:i], n, true
}

// SpecDigest is the digest of a registered spec: sha256 hex over the digests of its bytes and of its
// files, so that moving bytes from one to the other changes it.
func SpecDigest(spec, files []byte) string {
	a, b := sha256.Sum256(spec), sha256.Sum256(files)
	h := sha256.New()
	h.Write([]byte(hex.EncodeToString(a[:]) + "\n" + hex.EncodeToString(b[:]) + "\n"))
	return hex.EncodeToString(h.Sum(nil))
}
