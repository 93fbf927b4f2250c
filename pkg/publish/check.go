package publish

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ingot-build/ingot/internal/safefile"
)

// ErrMalformed means a manifest or index blob hashes to its name but does not parse: it was written
// wrong, so no copy of the same digest is any better.
var ErrMalformed = errors.New("publish: manifest does not parse")

// Damage is one blob of a layout that an image needs and cannot use.
type Damage struct {
	// Layout is the layout directory, Blob the digest and Path the blob's file.
	Layout string
	Blob   v1.Hash
	Path   string
	// Err says what is wrong: it wraps ErrIntegrity when the content does not match the digest,
	// fs.ErrNotExist when the file is missing, ErrMalformed when a manifest does not parse.
	Err error
	// RepairedFrom is the layout whose verified copy of the blob replaced this one; "" when the
	// blob was not repaired.
	RepairedFrom string
}

// Check checks every blob that name's images reference (the image tagged tag, or every entry of
// index.json when tag is ""): each is present and hashes to its name, and each manifest and index
// parses. It returns what is damaged; an error means the layout itself could not be read (no
// index.json, or one that does not parse; ErrNotFound for a missing tag).
//
// With repair, a damaged blob is replaced by a copy of the same digest from another layout of the
// store when one verifies there (images share layers): the copy is hashed as it is written and
// renamed into place only when it matches. What cannot be repaired that way is rewritten by
// building the image again (Write replaces damaged blobs).
func (s Layouts) Check(ctx context.Context, name, tag string, repair bool) ([]Damage, error) {
	l := Layout{Dir: s.Dir(name)}
	idx, err := l.IndexManifest()
	if err != nil {
		return nil, err
	}
	var entries []v1.Descriptor
	for _, d := range idx.Manifests {
		if tag == "" || d.Annotations[RefNameAnnotation] == tag {
			entries = append(entries, d)
		}
	}
	if tag != "" && len(entries) == 0 {
		return nil, fmt.Errorf("%s:%s: %w", name, tag, ErrNotFound)
	}
	var fix func(*Damage)
	if repair {
		unlock, err := lockDir(l.Dir)
		if err != nil {
			return nil, err
		}
		defer unlock()
		fix = func(d *Damage) { s.repair(name, d) }
	}
	seen := map[v1.Hash]bool{}
	var out []Damage
	for _, d := range entries {
		out = append(out, checkImage(ctx, l, d, seen, fix)...)
	}
	return out, ctx.Err()
}

// repair looks for a verifying copy of d's blob in the other layouts of the store and writes it in
// place of the damaged one. The caller holds the layout's lock.
func (s Layouts) repair(name string, d *Damage) {
	if !errors.Is(d.Err, ErrIntegrity) && !errors.Is(d.Err, os.ErrNotExist) {
		return
	}
	others, err := os.ReadDir(s.Root)
	if err != nil {
		return
	}
	w := blobWriter{dir: s.Dir(name)}
	for _, e := range others {
		if !e.IsDir() || e.Name() == name || safefile.IsTemp(e.Name()) {
			continue
		}
		src := Layout{Dir: s.Dir(e.Name())}
		p, err := src.path(d.Blob)
		if err != nil {
			return
		}
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		open := func() (io.ReadCloser, error) { return src.open(d.Blob) }
		if w.blob(d.Blob, fi.Size(), open) == nil {
			d.RepairedFrom = src.Dir
			return
		}
	}
}

// checkImage checks the manifest or index desc names and, through it, every blob below it; seen
// holds the digests already checked. fix, when set, is offered each damage and may repair it, after
// which the walk goes on below a repaired manifest.
func checkImage(ctx context.Context, l Layout, desc v1.Descriptor, seen map[v1.Hash]bool, fix func(*Damage)) []Damage {
	if seen[desc.Digest] || ctx.Err() != nil {
		return nil
	}
	seen[desc.Digest] = true
	var out []Damage
	// report records a damaged blob and says whether it was repaired.
	report := func(h v1.Hash, err error) bool {
		d := Damage{Layout: l.Dir, Blob: h, Err: err}
		d.Path, _ = l.path(h)
		if fix != nil {
			fix(&d)
		}
		out = append(out, d)
		return d.RepairedFrom != ""
	}
	raw, err := l.smallBlob(desc.Digest)
	if err != nil {
		if !report(desc.Digest, err) {
			return out
		}
		if raw, err = l.smallBlob(desc.Digest); err != nil {
			return out
		}
	}
	var m struct {
		Manifests []v1.Descriptor `json:"manifests"`
		Config    *v1.Descriptor  `json:"config"`
		Layers    []v1.Descriptor `json:"layers"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		report(desc.Digest, fmt.Errorf("OCI layout %s: manifest %s: %w: %w", l.Dir, desc.Digest, ErrMalformed, err))
		return out
	}
	if m.Config != nil {
		for _, b := range append([]v1.Descriptor{*m.Config}, m.Layers...) {
			if seen[b.Digest] || ctx.Err() != nil {
				continue
			}
			seen[b.Digest] = true
			if err := l.hashBlob(b.Digest); err != nil {
				report(b.Digest, err)
			}
		}
	}
	for _, c := range m.Manifests {
		out = append(out, checkImage(ctx, l, c, seen, fix)...)
	}
	return out
}
