package secrets

import (
	"context"
	"errors"

	"github.com/ingot-build/ingot/pkg/evidence"
)

// FileScan runs the scan directly over the files of a tree that is not an image (a VM's root file
// system read by pkg/host), so that a caller already reading each file for its own purpose hands the
// content over instead of presenting the tree as a layer and having it read again. It applies exactly
// what an image scan applies to a layer's files: the size cap, the skipped paths and extensions,
// binaries left out by their first bytes, the rules and the allow-list; its findings are an image
// scan's file findings without the layer (Location.Layer and Detail["layerIndex"] are empty).
//
// Files are scanned by a pool of workers while the caller goes on reading: Want, then Add for each
// file, then Findings once.
type FileScan struct {
	v     *Visitor
	index int
	ctx   context.Context
	stop  context.CancelFunc
}

// NewFileScan prepares a direct scan; the options are validated as Scan validates them.
func NewFileScan(ctx context.Context, opt Options) (*FileScan, error) {
	if err := opt.Validate(); err != nil {
		return nil, err
	}
	s := newImageScan(opt)
	ctx, cancel := context.WithCancel(ctx)
	return &FileScan{v: &Visitor{s: s}, ctx: ctx, stop: cancel}, nil
}

// Want reports whether a regular file of this size at this path (relative to the tree's root, with
// or without a leading "/") is read by the scan: not empty, within the size cap, not under a skipped
// path and without a binary-only extension.
func (f *FileScan) Want(name string, size int64) bool {
	name = cleanPath(name)
	return name != "" && size > 0 && size <= f.v.s.opt.MaxFileSize && !f.v.s.skipped(name)
}

// SniffBytes is how much of a file's head Sniff needs to tell text from binary.
const SniffBytes = binarySniff

// Sniff reports whether a file whose first bytes are head (SniffBytes of them, or the whole of a
// shorter file) is text that Add would scan, so that a caller need not read a binary to the end.
func (f *FileScan) Sniff(head []byte) bool {
	return len(head) > 0 && !isBinary(head[:min(len(head), binarySniff)])
}

// Add hands one wanted file's whole content to the workers, unless its first bytes say it is a
// binary. The scan keeps data until it is scanned: the caller must not modify it.
func (f *FileScan) Add(name string, data []byte) error {
	name = cleanPath(name)
	if !f.Sniff(data) {
		return nil
	}
	if !f.v.started {
		f.v.start()
	}
	f.index++
	select {
	case f.v.files <- file{index: f.index, path: name, data: data}:
		return nil
	case <-f.ctx.Done():
		return f.ctx.Err()
	}
}

// Findings waits for the workers and returns the findings in an image scan's order (by path, then
// position, then rule). It may be called once.
func (f *FileScan) Findings() ([]evidence.Finding, error) {
	if f.v.done {
		return nil, errors.New("secrets: Findings called twice")
	}
	f.v.stop()
	f.v.done = true
	defer f.stop()
	return f.v.s.findings(nil), nil
}

// Close stops the workers of a scan abandoned before Findings; it does nothing after Findings.
func (f *FileScan) Close() {
	f.stop()
	f.v.stop()
}
