package secrets

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/imageref"
)

// Scan looks for secrets in the files of every layer (a file deleted or replaced by a later layer is
// still scanned: it is still in the image), in the config's Env values, labels, entrypoint and
// command, and in the build history (created_by, which holds ARG and --build-arg values). Each finding
// is one secret at one place: Kind secret, ID the rule ID, Location {Layer diff ID, Path, Line} (Path
// "ENV:NAME", "LABEL:NAME", "CMD", "ENTRYPOINT" or "history[N]" for the config, with no layer), and
// Detail["match"] a redacted excerpt. Layers are read once each, in parallel, and files are scanned
// by a pool of workers as they come out of the tar streams.
func Scan(ctx context.Context, img v1.Image, opt Options) ([]evidence.Finding, error) {
	if err := opt.Validate(); err != nil {
		return nil, err
	}
	if opt.Rules == nil {
		opt.Rules = DefaultRules()
	}
	if opt.SkipPaths == nil {
		opt.SkipPaths = DefaultSkipPaths()
	}
	if opt.MaxFileSize == 0 {
		opt.MaxFileSize = DefaultMaxFileSize
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading image config: %w", err)
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("listing image layers: %w", err)
	}
	s := &imageScan{
		scanner: newScanner(opt.Rules),
		opt:     opt,
		layers:  make([]layerIndex, len(layers)),
		lr:      imageref.NewLayerReader(opt.Limits),
	}
	for _, p := range opt.SkipPaths {
		s.skip = append(s.skip, compileGlob(p))
	}
	diffIDs, err := imageref.DiffIDs(cfg, layers)
	if err != nil {
		return nil, err
	}
	for i, d := range diffIDs {
		s.layers[i].diffID = d.String()
	}
	s.scanConfig(cfg)
	if err := s.scanLayers(ctx, layers); err != nil {
		return nil, err
	}
	return s.findings(), nil
}

// imageScan is the state of one Scan.
type imageScan struct {
	scanner *scanner
	opt     Options
	skip    []glob
	layers  []layerIndex
	lr      *imageref.LayerReader
	bufs    sync.Pool // *[]byte, file contents

	mu    sync.Mutex
	found []found
}

// layerIndex is what a layer did to the file system, for telling whether a secret found in it is
// still visible at the top.
type layerIndex struct {
	diffID    string
	paths     map[string]bool // every entry, by clean path without a leading slash
	whiteouts []string        // paths deleted, with what is below them
	opaque    []string        // directories whose lower contents are hidden
}

type found struct {
	layer int // -1 for the config
	m     Match
}

func (s *imageScan) add(layer int, ms []Match) {
	if len(ms) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range ms {
		s.found = append(s.found, found{layer, m})
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
		s.add(-1, ms)
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
	layer int
	path  string
	buf   *[]byte
}

func (s *imageScan) scanLayers(ctx context.Context, layers []v1.Layer) error {
	workers := runtime.GOMAXPROCS(0)
	files := make(chan file, 2*workers)
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(files)
		readers, ctx := errgroup.WithContext(ctx)
		readers.SetLimit(workers)
		for i, l := range layers {
			readers.Go(func() error {
				if err := s.readLayer(ctx, i, l, files); err != nil {
					return fmt.Errorf("reading layer %d (%s): %w", i, s.layers[i].diffID, err)
				}
				return nil
			})
		}
		return readers.Wait()
	})
	for range workers {
		g.Go(func() error {
			var lower []byte
			for f := range files {
				s.add(f.layer, s.scanner.scan("/"+f.path, *f.buf, &lower))
				s.bufs.Put(f.buf)
			}
			return nil
		})
	}
	return g.Wait()
}

// readLayer walks one layer's tar stream, indexing every entry and sending each regular text file
// that is not skipped to the workers.
func (s *imageScan) readLayer(ctx context.Context, i int, l v1.Layer, files chan<- file) error {
	return s.lr.Read(ctx, l, func(tr *tar.Reader) error { return s.readTar(ctx, i, tr, files) })
}

func (s *imageScan) readTar(ctx context.Context, i int, tr *tar.Reader, files chan<- file) error {
	idx := &s.layers[i]
	idx.paths = map[string]bool{}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := cleanPath(hdr.Name)
		if name == "" {
			continue
		}
		dir, base := path.Split(name)
		if strings.HasPrefix(base, ".wh.") {
			if base == ".wh..wh..opq" {
				idx.opaque = append(idx.opaque, strings.TrimSuffix(dir, "/"))
			} else {
				idx.whiteouts = append(idx.whiteouts, dir+strings.TrimPrefix(base, ".wh."))
			}
			continue
		}
		idx.paths[name] = true
		if !hdr.FileInfo().Mode().IsRegular() || hdr.Size == 0 || hdr.Size > s.opt.MaxFileSize || s.skipped(name) {
			continue
		}
		buf := s.buffer(hdr.Size)
		head := min(hdr.Size, binarySniff)
		if _, err := io.ReadFull(tr, (*buf)[:head]); err != nil {
			s.bufs.Put(buf)
			return fmt.Errorf("%s: %w", name, err)
		}
		if isBinary((*buf)[:head]) {
			s.bufs.Put(buf)
			continue
		}
		if _, err := io.ReadFull(tr, (*buf)[head:]); err != nil {
			s.bufs.Put(buf)
			return fmt.Errorf("%s: %w", name, err)
		}
		select {
		case files <- file{layer: i, path: name, buf: buf}:
		case <-ctx.Done():
			s.bufs.Put(buf)
			return ctx.Err()
		}
	}
}

// buffer returns a pooled buffer of length n.
func (s *imageScan) buffer(n int64) *[]byte {
	b, _ := s.bufs.Get().(*[]byte)
	if b == nil || int64(cap(*b)) < n {
		nb := make([]byte, n, max(n, 64<<10))
		return &nb
	}
	*b = (*b)[:n]
	return b
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

// removedBy says which later layer deletes or replaces name, if any.
func (s *imageScan) removedBy(layer int, name string) string {
	for j := layer + 1; j < len(s.layers); j++ {
		idx := &s.layers[j]
		if idx.paths[name] {
			return "replaced by layer " + strconv.Itoa(j)
		}
		for _, w := range idx.whiteouts {
			if name == w || strings.HasPrefix(name, w+"/") {
				return "deleted by layer " + strconv.Itoa(j)
			}
		}
		for _, d := range idx.opaque {
			if strings.HasPrefix(name, d+"/") {
				return "deleted by layer " + strconv.Itoa(j)
			}
		}
	}
	return ""
}

// findings turns what was found into evidence, applying the allow-list, in a stable order: config
// first, then by layer, path and line.
func (s *imageScan) findings() []evidence.Finding {
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
		if f.layer >= 0 {
			desc = ""
			loc.Layer = s.layers[f.layer].diffID
			detail["layerIndex"] = strconv.Itoa(f.layer)
			if by := s.removedBy(f.layer, strings.TrimPrefix(f.m.Path, "/")); by != "" {
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
