package vmrecord

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/fault"
)

// Errors of Record.
var (
	// ErrInput: the request is incomplete or names disks that are not what it says.
	ErrInput = fault.New(fault.Invalid, "vmrecord: invalid VM image")
	// ErrDigest: a disk's bytes do not match the digest the build reported for it.
	ErrDigest = fault.New(fault.Integrity, "vmrecord: disk does not match its digest")
)

// qcow2Magic opens every qcow2 file ("QFI\xfb", the qcow2 specification's header magic).
var qcow2Magic = []byte{'Q', 'F', 'I', 0xfb}

// DiskFile is one disk image the build wrote.
type DiskFile struct {
	Path string
	// Format is catalog.DiskRaw or catalog.DiskQCOW2.
	Format string
	// Digest, when not empty, is what the build computed: Record checks the file against it.
	Digest string
}

// Input is a built VM image.
type Input struct {
	// Image is the spec's name; Line its release line (the spec's version, "latest" when it has none).
	Image, Line string
	// Arch is the disk's architecture (amd64, arm64).
	Arch string
	// Disks must include the raw disk, whose digest becomes the version's.
	Disks []DiskFile
	// Evidence is what the evidence stages found on the image's root file system.
	Evidence *evidence.Set
	// Spec and Lock are the bytes the image was built from.
	Spec, Lock []byte
	// Reason says why it was built ("ingot host build").
	Reason string
	// Built is when the build finished; Grace how long older active versions of the line stay active.
	Built time.Time
	Grace time.Duration
	Actor string
}

// Record hashes the disks, records the version pending (Begin), then publishes it with the disks'
// absolute paths as its locations. A disk that is the same as an already published version's returns
// that version. Disks are hashed before anything is written: a failure records nothing.
func Record(ctx context.Context, c catalog.Catalog, in Input) (*catalog.Version, error) {
	v, locs, err := Describe(in)
	if err != nil {
		return nil, err
	}
	got, existed, err := c.Begin(ctx, v)
	if err != nil {
		return nil, err
	}
	if existed && got.State == catalog.StatePublished {
		return got, nil
	}
	if _, err := c.Publish(ctx, got.ID, catalog.Publication{Locations: locs, At: in.Built, Grace: in.Grace, Actor: in.Actor}); err != nil {
		return nil, err
	}
	return c.Get(ctx, catalog.Ref{Image: got.Image, Version: got.Tag()})
}

// Describe hashes the disks and returns the version Record would begin, with the disks' locations.
func Describe(in Input) (*catalog.Version, []catalog.Location, error) {
	if in.Image == "" || in.Line == "" || in.Arch == "" {
		return nil, nil, fmt.Errorf("%w: image, release line and architecture are required", ErrInput)
	}
	if in.Evidence == nil {
		return nil, nil, fmt.Errorf("%w: %s has no evidence", ErrInput, in.Image)
	}
	v := &catalog.Version{Image: in.Image, Line: in.Line, Kind: catalog.KindVM, Spec: in.Spec, Lock: in.Lock,
		Reason: in.Reason, Built: in.Built}
	var locs []catalog.Location
	for _, f := range in.Disks {
		d, err := hashDisk(f)
		if err != nil {
			return nil, nil, err
		}
		abs, err := filepath.Abs(f.Path)
		if err != nil {
			return nil, nil, err
		}
		v.Disks = append(v.Disks, d)
		locs = append(locs, catalog.Location{Kind: catalog.LocationDisk, Ref: abs})
		if d.Format == catalog.DiskRaw {
			v.Digest = d.Digest
		}
	}
	if v.Digest == "" {
		return nil, nil, fmt.Errorf("%w: %s has no raw disk: its digest names the version", ErrInput, in.Image)
	}
	v.Platforms = []catalog.Platform{{OS: "linux", Arch: in.Arch, Digest: v.Digest, Evidence: in.Evidence}}
	if err := v.Validate(); err != nil {
		return nil, nil, err
	}
	return v, locs, nil
}

// hashDisk reads a disk file once: its digest, size, and that its header is what its format says (a
// qcow2 named raw would be recorded as the wrong bytes to boot).
func hashDisk(f DiskFile) (catalog.Disk, error) {
	if f.Format != catalog.DiskRaw && f.Format != catalog.DiskQCOW2 {
		return catalog.Disk{}, fmt.Errorf("%w: %s: format %q (want %s or %s)", ErrInput, f.Path, f.Format, catalog.DiskRaw, catalog.DiskQCOW2)
	}
	fh, err := os.Open(f.Path)
	if err != nil {
		return catalog.Disk{}, fmt.Errorf("%w: %w", ErrInput, err)
	}
	defer func() { _ = fh.Close() }() // read only
	st, err := fh.Stat()
	if err != nil {
		return catalog.Disk{}, err
	}
	if !st.Mode().IsRegular() || st.Size() == 0 {
		return catalog.Disk{}, fmt.Errorf("%w: %s is not a non-empty regular file", ErrInput, f.Path)
	}
	head := make([]byte, len(qcow2Magic))
	if _, err := io.ReadFull(fh, head); err != nil {
		return catalog.Disk{}, fmt.Errorf("%w: %s: %w", ErrInput, f.Path, err)
	}
	if isQCOW2 := bytes.Equal(head, qcow2Magic); isQCOW2 != (f.Format == catalog.DiskQCOW2) {
		return catalog.Disk{}, fmt.Errorf("%w: %s is given as %s but its header says otherwise", ErrInput, f.Path, f.Format)
	}
	h := sha256.New()
	h.Write(head)
	n, err := io.Copy(h, fh)
	if err != nil {
		return catalog.Disk{}, fmt.Errorf("reading %s: %w", f.Path, err)
	}
	d := catalog.Disk{Format: f.Format, Digest: "sha256:" + hex.EncodeToString(h.Sum(nil)), Size: n + int64(len(head))}
	if f.Digest != "" && f.Digest != d.Digest {
		return catalog.Disk{}, fmt.Errorf("%w: %s is %s, the build reported %s", ErrDigest, f.Path, d.Digest, f.Digest)
	}
	return d, nil
}
