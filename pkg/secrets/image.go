package secrets

import (
	"context"
	"errors"
	"path"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/layers"
)

// Scan looks for secrets in the files of every layer (a file deleted or replaced by a later layer is
// still scanned: it is still in the image), in the config's Env values, labels, entrypoint and
// command, and in the build history (created_by, which holds ARG and --build-arg values). Each finding
// is one secret at one place: Kind secret, ID the rule ID, Location {Layer diff ID, Path, Line} (Path
// "ENV:NAME", "LABEL:NAME", "CMD", "ENTRYPOINT" or "history[N]" for the config, with no layer), and
// Detail["match"] a redacted excerpt. Layers are read once each through the layer walker, and files
// are scanned by a pool of workers as they come out of the tar streams. Visitor runs the same scan
// as one visitor of a walk shared with other stages.
func Scan(ctx context.Context, img v1.Image, opt Options) ([]evidence.Finding, error) {
	if err := opt.Validate(); err != nil {
		return nil, err
	}
	li, err := layers.Open(img)
	if err != nil {
		return nil, err
	}
	v := NewVisitor(li, opt)
	defer v.Close()
	if err := layers.Walk(ctx, li, layers.Options{Limits: opt.Limits}, v); err != nil {
		return nil, err
	}
	return v.Findings()
}

// Visitor is a scan as a visitor of a layer walk (see pkg/layers): after the walk, Findings returns
// what Scan would have.
type Visitor struct {
	s       *imageScan
	files   chan file
	workers *errgroup.Group
	started bool
	result  []evidence.Finding
	done    bool
}

// NewVisitor prepares a scan of the image li names; opt must be valid (Options.Validate).
func NewVisitor(li *layers.Image, opt Options) *Visitor {
	s := newImageScan(opt)
	s.diffIDs = make([]string, len(li.Layers))
	for i, d := range li.DiffIDs {
		s.diffIDs[i] = d.String()
	}
	s.scanConfig(li.Config)
	return &Visitor{s: s}
}

// newImageScan fills in the defaults of the options and compiles the skipped paths.
func newImageScan(opt Options) *imageScan {
	if opt.Rules == nil {
		opt.Rules = DefaultRules()
	}
	if opt.SkipPaths == nil {
		opt.SkipPaths = DefaultSkipPaths()
	}
	if opt.MaxFileSize == 0 {
		opt.MaxFileSize = DefaultMaxFileSize
	}
	s := &imageScan{scanner: newScanner(opt.Rules), opt: opt}
	for _, p := range opt.SkipPaths {
		s.skip = append(s.skip, compileGlob(p))
	}
	return s
}

// Findings are the scan's findings, once the walk is done.
func (v *Visitor) Findings() ([]evidence.Finding, error) {
	if !v.done {
		return nil, errors.New("secrets: the walk did not finish")
	}
	return v.result, nil
}

// Want asks for every regular text file that is not skipped and not too large.
func (v *Visitor) Want(e *layers.Entry) layers.Interest {
	h := e.Header
	if e.Whiteout || e.Opaque || e.Path == "" || !h.FileInfo().Mode().IsRegular() || h.Size == 0 || h.Size > v.s.opt.MaxFileSize || v.s.skipped(e.Path) {
		return layers.Interest{}
	}
	return layers.Interest{Visit: true, Read: true, Max: v.s.opt.MaxFileSize, Sniff: func(head []byte) bool {
		return !isBinary(head[:min(len(head), binarySniff)])
	}}
}

// Visit hands a text file to the workers.
func (v *Visitor) Visit(ctx context.Context, e *layers.Entry) error {
	if e.Data == nil {
		return nil
	}
	if !v.started {
		v.start()
	}
	select {
	case v.files <- file{layer: e.Layer, index: e.Index, path: e.Path, data: e.Data}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// start starts the workers that scan files as the walk reads them.
func (v *Visitor) start() {
	v.started = true
	workers := runtime.GOMAXPROCS(0)
	v.files = make(chan file, 2*workers)
	v.workers = &errgroup.Group{}
	for range workers {
		v.workers.Go(func() error {
			var lower []byte
			for f := range v.files {
				v.s.add(f.layer, f.index, v.s.scanner.scan("/"+f.path, f.data, &lower))
			}
			return nil
		})
	}
}

// Close stops the workers of a walk that failed before Done; it does nothing after Done.
func (v *Visitor) Close() { v.stop() }

// stop waits for the workers.
func (v *Visitor) stop() {
	if v.started {
		close(v.files)
		_ = v.workers.Wait()
		v.started = false
	}
}

// Done waits for the workers and settles which files were deleted or replaced above.
func (v *Visitor) Done(_ context.Context, fs *layers.FS) error {
	v.stop()
	v.result = v.s.findings(fs)
	v.done = true
	return nil
}

// imageScan is the state of one Scan.
type imageScan struct {
	scanner *scanner
	opt     Options
	skip    []glob
	diffIDs []string

	mu    sync.Mutex
	found []found
}

type found struct {
	layer int // -1 for the config
	index int // the file's entry in its layer
	m     Match
}

func (s *imageScan) add(layer, index int, ms []Match) {
	if len(ms) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range ms {
		s.found = append(s.found, found{layer, index, m})
	}
}

// scanConfig scans the places in the config where build inputs end up in the clear.
func (s *imageScan) scanConfig(cfg *v1.ConfigFile) {
	text := func(where, v string) {
		if v == "" {
			return
		}
		ms := s.scanner.scan(where, []byte(v), nil)
		for i := range ms {
			ms[i].Line = 0 // one value, not a file
		}
		s.add(-1, -1, ms)
	}
	for _, e := range cfg.Config.Env {
		name, _, _ := strings.Cut(e, "=")
		text("ENV:"+name, e)
	}
	for k, v := range cfg.Config.Labels {
		text("LABEL:"+k, k+"="+v)
	}
	text("ENTRYPOINT", strings.Join(cfg.Config.Entrypoint, " "))
	text("CMD", strings.Join(cfg.Config.Cmd, " "))
	for i, h := range cfg.History {
		text("history["+strconv.Itoa(i)+"]", h.CreatedBy)
		text("history["+strconv.Itoa(i)+"].comment", h.Comment)
	}
}

// file is one text file read out of a layer, waiting for a worker.
type file struct {
	layer, index int
	path         string
	data         []byte
}

// skipped reports whether a path is under one of the skipped globs, or has an extension that only
// binary formats use (a cheap way to not even read their first bytes).
func (s *imageScan) skipped(name string) bool {
	switch strings.ToLower(path.Ext(name)) {
	case ".png", ".jpg", ".jpeg", ".gif", ".ico", ".webp", ".bmp", ".tif", ".tiff", ".woff", ".woff2",
		".ttf", ".otf", ".eot", ".pfb", ".gz", ".tgz", ".bz2", ".xz", ".zst", ".lz4", ".zip", ".jar",
		".war", ".whl", ".egg", ".7z", ".so", ".a", ".o", ".pyc", ".pyo", ".class", ".mo", ".gmo",
		".db", ".sqlite", ".wasm", ".pdf", ".mp3", ".mp4", ".ogg", ".deb", ".rpm", ".apk":
		return true
	}
	return len(s.skip) > 0 && matchAny(s.skip, splitPath(name))
}

// cleanPath turns a tar entry name into a clean path with no leading "./" or "/"; "" is the root.
func cleanPath(name string) string {
	p := path.Clean("/" + name)
	return strings.TrimPrefix(p, "/")
}

// removedBy says which later layer deletes or replaces the file, if any.
func removedBy(fs *layers.FS, layer, index int) string {
	f := fs.Fate(layer, index)
	switch {
	case !f.Removed:
		return ""
	case f.Replaced:
		return "replaced by layer " + strconv.Itoa(f.By)
	}
	return "deleted by layer " + strconv.Itoa(f.By)
}

// findings turns what was found into evidence, applying the allow-list, in a stable order: config
// first, then by layer, path and line.
func (s *imageScan) findings(fs *layers.FS) []evidence.Finding {
	sort.Slice(s.found, func(i, j int) bool {
		a, b := s.found[i], s.found[j]
		if a.layer != b.layer {
			return a.layer < b.layer
		}
		if a.m.Path != b.m.Path {
			return a.m.Path < b.m.Path
		}
		if a.m.Start != b.m.Start {
			return a.m.Start < b.m.Start
		}
		return a.m.Rule.ID < b.m.Rule.ID
	})
	out := make([]evidence.Finding, 0, len(s.found))
	for _, f := range s.found {
		loc := evidence.Location{Path: f.m.Path, Line: f.m.Line}
		detail := map[string]string{"match": f.m.Redacted()}
		desc := "Set in the image config, which anyone who can pull the image can read."
		switch {
		case f.layer >= 0 && fs == nil:
			desc = "" // a FileScan: a tree's file, no layer
		case f.layer >= 0:
			desc = ""
			loc.Layer = s.diffIDs[f.layer]
			detail["layerIndex"] = strconv.Itoa(f.layer)
			if by := removedBy(fs, f.layer, f.index); by != "" {
				detail["removed"] = by
				desc = "The file is " + by + ", but layer " + strconv.Itoa(f.layer) + " still holds it: anyone who pulls the image can read it."
			}
		}
		fd := evidence.Finding{
			Kind:        evidence.KindSecret,
			ID:          f.m.Rule.ID,
			Severity:    f.m.Rule.Severity,
			Status:      evidence.StatusAffected,
			Title:       f.m.Rule.Title,
			Description: desc,
			Locations:   []evidence.Location{loc},
			Detail:      detail,
		}
		for _, a := range s.opt.Allow {
			if a.Matches(fd.ID, f.m.Path) {
				fd.Status, fd.Reason = evidence.StatusWaived, a.Reason
				break
			}
		}
		out = append(out, fd)
	}
	return out
}
