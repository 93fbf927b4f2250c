package layers

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"runtime"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"

	"github.com/ingot-build/ingot/pkg/imageref"
)

// Whiteout names, as the OCI image layer specification defines them.
const (
	WhiteoutPrefix = ".wh."
	OpaqueMarker   = ".wh..wh..opq"
)

// HeadSize is how much of a file Interest.Sniff is shown: its first HeadSize bytes, or all of a
// smaller file.
const HeadSize = 8 << 10

// Entry is one entry of a layer's tar stream, as visitors receive it.
type Entry struct {
	// Layer is the layer's index, Index the entry's position in the layer's stream.
	Layer, Index int
	// Path is the name, clean and relative ("etc/passwd"); "" is the root. For a whiteout it is the
	// name deleted, for an opaque marker the directory made opaque.
	Path string
	// Header is the tar header as read.
	Header *tar.Header
	// Whiteout and Opaque mark the OCI whiteout entries.
	Whiteout, Opaque bool
	// Data is the file's content when a visitor asked for it and it was not larger than asked.
	Data []byte
	// Reader is the file's content for a visitor that streams it (Interest.Stream).
	Reader io.Reader
	// Dangling is set on a hard link whose target is not a file of the image at that point.
	Dangling bool
	// Node is what the entry left in the merged file system so far (nil for whiteouts and entries
	// that write no file); a hard link's node has its target's mode and content.
	Node *Node
}

// Interest is what a visitor wants of an entry.
type Interest struct {
	// Visit gives the entry to Visit; the rest of the fields only matter with it.
	Visit bool
	// Read asks for a regular file's content, up to Max bytes: a larger file is visited without
	// content, or with its first Max bytes when Truncate is set.
	Read     bool
	Max      int64
	Truncate bool
	// Sniff, when set, is shown the head of the file first (HeadSize bytes), and the content is read
	// for this visitor only if it returns true. It runs on the goroutine reading the layer.
	Sniff func(head []byte) bool
	// Match, when set, is shown the content read: the visitor gets it only if Match returns true
	// (a Go binary among the ELF files), and the others are not copied. It runs on the goroutine
	// reading the layer.
	Match func(content []byte) bool
	// Keep keeps the content read in the merged file system's node (Node.Data).
	Keep bool
	// Stream gives a regular file's content as Entry.Reader, to be read during Visit; only in a
	// sequential walk (Options.Sequential), and for one visitor of the walk.
	Stream bool
}

// Visitor is one stage reading the image. Want is called on the goroutines reading the layers, for
// every entry of every layer, and must only look at its arguments; Visit is called on one goroutine,
// layer after layer, entry after entry, in stream order; Done is called once, after the last layer,
// with the merged file system.
type Visitor interface {
	Want(e *Entry) Interest
	Visit(ctx context.Context, e *Entry) error
	Done(ctx context.Context, fs *FS) error
}

// Options tune a walk.
type Options struct {
	// Limits bound how much the image's layers may decompress to.
	Limits imageref.Limits
	// Reader, when set, is the reader the layers are read through (its budget shared with other
	// reads); otherwise one is made from Limits.
	Reader *imageref.LayerReader
	// Sequential reads the layers one after the other on the visitors' goroutine, so that visitors
	// can stream contents (unpacking them to disk).
	Sequential bool
	// Cache, when set and every visitor is Cacheable, keeps what the visitors made of each layer by
	// imageref.ContentID: a layer found there is not read.
	Cache Cache
}

// Image is what a walk knows of the image besides its files.
type Image struct {
	Config  *v1.ConfigFile
	Layers  []v1.Layer
	DiffIDs []v1.Hash
}

// Open reads what a walk needs of img: its config, layers and diff IDs (from the config, so that no
// layer is read for them).
func Open(img v1.Image) (*Image, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading image config: %w", err)
	}
	ls, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("listing layers: %w", err)
	}
	ds, err := imageref.DiffIDs(cf, ls)
	if err != nil {
		return nil, err
	}
	return &Image{Config: cf, Layers: ls, DiffIDs: ds}, nil
}

// maxScratch is the largest buffer a layer's reader keeps from one file to the next.
const maxScratch = 64 << 20

// Ahead is how many entries a layer's reader may get ahead of the visitors, and aheadBytes how
// many bytes of contents (a larger file alone may exceed it).
const (
	Ahead      = 256
	aheadBytes = 32 << 20
)

// item is one entry on its way from a layer's reader to the visitors.
type item struct {
	e     Entry
	wants []Interest // by visitor
	err   error
	rec   *layerRecord // a layer replayed from the cache
	held  int64        // bytes of the layer's read-ahead budget the item holds
}

// Walk reads every layer of img once, in order, and gives each visitor the entries it wants, then
// the merged file system. Layers are decompressed concurrently (GOMAXPROCS of them at a time, the
// next ones while the visitors are still on the first), each through one imageref.LayerReader: hash-
// checked and within the limits; with Options.Sequential, one after the other on one goroutine, and
// visitors may then stream contents (Interest.Stream). An error of a visitor or of a layer ends the
// walk.
func Walk(ctx context.Context, img *Image, opt Options, vs ...Visitor) error {
	lr := opt.Reader
	if lr == nil {
		lr = imageref.NewLayerReader(opt.Limits)
	}
	w := &walk{fs: newFS(), vs: vs, cache: opt.Cache, keys: make([]string, len(img.Layers))}
	if w.cache != nil {
		// Layers are cached under what reading them proves they hold (imageref.ContentID), and read
		// with ReadChecked: a config may claim any diff ID, and the cache must not keep one layer's
		// findings under another's name.
		for i, l := range img.Layers {
			id, err := imageref.ContentID(l, img.DiffIDs[i])
			if err != nil {
				return err
			}
			w.keys[i] = cacheKey(id, vs)
		}
	}
	var err error
	if opt.Sequential {
		for i, l := range img.Layers {
			if rec, ok := w.cached(i); ok {
				if err = replay(w.fs, i, rec, vs); err != nil {
					break
				}
				continue
			}
			w.entries = nil
			emit := func(it *item) error { return w.visit(ctx, i, it) }
			if err = produce(ctx, lr, i, l, img.DiffIDs[i], w.keys[i] != "", vs, true, emit); err != nil {
				break
			}
			if err = w.save(i); err != nil {
				break
			}
		}
	} else {
		err = w.ahead(ctx, lr, img)
	}
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, v := range vs {
		if err := v.Done(ctx, w.fs); err != nil {
			return err
		}
	}
	return nil
}

// walk is the state of one Walk.
type walk struct {
	fs    *FS
	vs    []Visitor
	cache Cache
	// keys are the layers' cache keys, "" for a layer not to cache; entries are those of the layer
	// being visited, for its cache record.
	keys    []string
	entries []cachedEntry
}

// cached is the cache's record of layer i, if it has one.
func (w *walk) cached(i int) (*layerRecord, bool) {
	if w.keys[i] == "" {
		return nil, false
	}
	return loadRecord(w.cache, w.keys[i], len(w.vs))
}

// save records layer i in the cache, once visited.
func (w *walk) save(i int) error {
	if w.keys[i] == "" {
		return nil
	}
	err := saveRecord(w.cache, w.keys[i], i, w.entries, w.vs)
	w.entries = nil
	return err
}

// ahead reads the layers on their own goroutines, ahead of the visitors, which see them in order.
func (w *walk) ahead(ctx context.Context, lr *imageref.LayerReader, img *Image) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	chans := make([]chan item, len(img.Layers))
	held := make([]*semaphore.Weighted, len(img.Layers))
	for i := range chans {
		chans[i] = make(chan item, Ahead)
		held[i] = semaphore.NewWeighted(aheadBytes)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		readers, rctx := errgroup.WithContext(gctx)
		readers.SetLimit(max(2, runtime.GOMAXPROCS(0)))
		for i, l := range img.Layers {
			readers.Go(func() error {
				defer close(chans[i])
				if rec, ok := w.cached(i); ok {
					chans[i] <- item{rec: rec}
					return nil
				}
				emit := func(it *item) error {
					// Contents waiting for the visitors count against the layer's budget.
					it.held = min(int64(len(it.e.Data)), aheadBytes)
					if err := held[i].Acquire(rctx, it.held); err != nil {
						return err
					}
					select {
					case chans[i] <- *it:
						return nil
					case <-rctx.Done():
						held[i].Release(it.held)
						return rctx.Err()
					}
				}
				err := produce(rctx, lr, i, l, img.DiffIDs[i], w.keys[i] != "", w.vs, false, emit)
				if err != nil {
					select {
					case chans[i] <- item{err: err}:
					case <-rctx.Done():
					}
				}
				return err
			})
		}
		return readers.Wait()
	})
	var visitErr error
	for i, ch := range chans {
		w.entries = nil
		replayed := false
		for it := range ch {
			switch {
			case visitErr != nil:
				continue // drain, so the reader finishes
			case it.err != nil:
				visitErr = it.err
			case it.rec != nil:
				replayed = true
				visitErr = replay(w.fs, i, it.rec, w.vs)
			default:
				visitErr = w.visit(ctx, i, &it)
				held[i].Release(it.held)
			}
			if visitErr != nil {
				cancel()
			}
		}
		if visitErr == nil && !replayed {
			if visitErr = w.save(i); visitErr != nil {
				cancel()
			}
		}
	}
	if err := g.Wait(); err != nil && (visitErr == nil || errors.Is(visitErr, context.Canceled)) {
		return err
	}
	return visitErr
}

// visit applies an entry and gives it to the visitors, noting it for the layer's cache record.
func (w *walk) visit(ctx context.Context, layer int, it *item) error {
	if err := visit(ctx, w.fs, layer, it, w.vs); err != nil {
		return err
	}
	if w.keys[layer] != "" {
		h := it.e.Header
		watched := false
		for _, want := range it.wants {
			watched = watched || want.Visit
		}
		w.entries = append(w.entries, cachedEntry{Index: it.e.Index, Name: h.Name, Type: h.Typeflag, Mode: h.Mode, UID: h.Uid, GID: h.Gid, Size: h.Size, Linkname: h.Linkname, Watched: watched})
	}
	return nil
}

// visit applies one entry to the merged file system and gives it to the visitors that want it.
func visit(ctx context.Context, fs *FS, layer int, it *item, vs []Visitor) error {
	e := &it.e
	n := fs.apply(layer, e.Index, e)
	e.Node = n
	data, stream := e.Data, e.Reader
	for j, v := range vs {
		w := it.wants[j]
		if !w.Visit {
			continue
		}
		if n != nil && !e.Whiteout && !e.Opaque && n.Layer == layer && n.Index == e.Index {
			n.watched = true
		}
		e.Data, e.Reader = nil, nil
		if w.Read && data != nil {
			e.Data = data[:min(int64(len(data)), w.Max)]
		}
		if w.Stream && stream != nil {
			if data != nil && int64(len(data)) == e.Header.Size {
				e.Reader = bytes.NewReader(data)
			} else {
				e.Reader = stream
			}
		}
		if w.Keep && e.Data != nil && n != nil && n.Type == tar.TypeReg && e.Header.Typeflag != tar.TypeLink {
			n.Data = e.Data
		}
		if err := v.Visit(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

// produce reads layer i and emits its entries, with what each visitor wants of them and the content
// some want; with checked, through imageref.ReadChecked. With stream, emit is called while the
// entry's content is still unread in the stream, for visitors that stream it.
func produce(ctx context.Context, lr *imageref.LayerReader, i int, l v1.Layer, diffID v1.Hash, checked bool, vs []Visitor, stream bool, emit func(*item) error) error {
	read := lr.Read
	if checked {
		read = func(ctx context.Context, l v1.Layer, fn func(*tar.Reader) error) error {
			return lr.ReadChecked(ctx, l, diffID, fn)
		}
	}
	err := read(ctx, l, func(tr *tar.Reader) error {
		var head, scratch []byte
		for index := 0; ; index++ {
			if index%256 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			it := item{e: entryOf(i, index, h), wants: make([]Interest, len(vs))}
			var read int64 = -1 // how much of the content is wanted: the most any visitor wants
			sniffers, streamers := false, false
			for j, v := range vs {
				w := v.Want(&it.e)
				it.wants[j] = w
				file := w.Visit && !it.e.Whiteout && !it.e.Opaque && isRegular(h)
				if !file || !stream {
					it.wants[j].Stream = false
				}
				streamers = streamers || it.wants[j].Stream
				if file && w.Read && (h.Size <= w.Max || w.Truncate) {
					if w.Sniff != nil {
						sniffers = true
					} else {
						read = max(read, min(h.Size, w.Max))
					}
				} else {
					it.wants[j].Read = false
				}
			}
			var content io.Reader = tr // what is left of the content, for streamers
			haveData := false
			if sniffers && read < 0 {
				// Only sniffers: read the head, and the rest only if one of them wants it.
				n := min(h.Size, HeadSize)
				head = slices.Grow(head[:0], int(n))[:n]
				if _, err := io.ReadFull(tr, head); err != nil {
					return fmt.Errorf("%s: %w", h.Name, err)
				}
				for j := range it.wants {
					w := &it.wants[j]
					if w.Sniff == nil {
						continue
					}
					if w.Read && w.Sniff(head) {
						read = max(read, min(h.Size, w.Max))
					} else {
						w.Read = false
					}
				}
				if read >= 0 {
					if scratch, err = readFile(tr, max(0, read-n), append(scratch[:0], head...)); err != nil {
						return fmt.Errorf("%s: %w", h.Name, err)
					}
					haveData = true
				} else if streamers {
					content = io.MultiReader(bytes.NewReader(slices.Clone(head)), tr)
				}
			} else if read >= 0 {
				if scratch, err = readFile(tr, read, scratch[:0]); err != nil {
					return fmt.Errorf("%s: %w", h.Name, err)
				}
				haveData = true
				for j := range it.wants {
					w := &it.wants[j]
					if w.Sniff != nil && w.Read && !w.Sniff(scratch[:min(len(scratch), HeadSize)]) {
						w.Read = false
					}
				}
			}
			if haveData {
				// The content is read into a buffer kept from file to file, and copied out only for
				// visitors that still want it once their Match has seen it.
				keep := false
				for j := range it.wants {
					w := &it.wants[j]
					if w.Read && w.Match != nil && !w.Match(scratch) {
						w.Read = false
					}
					keep = keep || w.Read
				}
				if keep || streamers {
					it.e.Data = slices.Clone(scratch)
				}
				if cap(scratch) > maxScratch {
					scratch = nil
				}
			}
			if streamers {
				if it.e.Data != nil && int64(len(it.e.Data)) < h.Size {
					content = io.MultiReader(bytes.NewReader(it.e.Data), tr)
				}
				it.e.Reader = content
			}
			for j := range it.wants {
				it.wants[j].Sniff = nil // settled: Read says whether the visitor gets the content
			}
			if err := emit(&it); err != nil {
				return err
			}
		}
	})
	if err != nil {
		return fmt.Errorf("reading layer %d (%s): %w", i, diffID, err)
	}
	return nil
}

// entryOf is the entry the header at index of layer is: its clean path, and whether it is a
// whiteout.
func entryOf(layer, index int, h *tar.Header) Entry {
	e := Entry{Layer: layer, Index: index, Header: h}
	e.Path = cleanPath(h.Name)
	dir, base := path.Split(e.Path)
	if base == OpaqueMarker {
		e.Opaque, e.Path = true, strings.TrimSuffix(dir, "/")
	} else if name, ok := strings.CutPrefix(base, WhiteoutPrefix); ok && name != "" {
		e.Whiteout, e.Path = true, dir+name
	}
	return e
}

func isRegular(h *tar.Header) bool {
	return h.Typeflag == tar.TypeReg || h.Typeflag == tar.TypeGNUSparse
}

// cleanPath makes a tar entry name relative and clean; names that leave the root are brought back
// under it, as every stage has always read them. The root is "".
func cleanPath(name string) string {
	return path.Clean("/" + name)[1:]
}

// readFile appends the next size bytes of r to buf. The size comes from a tar header anyone can
// write, so memory grows with the data that actually arrives, in steps, rather than all up front.
func readFile(r io.Reader, size int64, buf []byte) ([]byte, error) {
	const step = 8 << 20
	want := len(buf) + int(size)
	for len(buf) < want {
		n := min(want-len(buf), step)
		buf = slices.Grow(buf, n)
		m, err := io.ReadFull(r, buf[len(buf):len(buf)+n])
		buf = buf[:len(buf)+m]
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}
