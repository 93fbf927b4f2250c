package host

import (
	"archive/tar"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"

	"github.com/ingot-build/ingot/pkg/imageref"
	"github.com/ingot-build/ingot/pkg/secrets"
)

// indexer reads the content of each entry of the index walk that someone needs: the rules (keep),
// the layer digest (every byte, in the tar stream writeTar makes) and the secrets scan, so that each
// file is read once. Hashing runs on its own goroutine, fed the chunks in order, so that it overlaps
// the reading and the scanning: it is the one part of the walk that cannot be split across cores. A
// nil indexer serves the rules alone.
type indexer struct {
	tw    *tar.Writer
	count countWriter
	sink  *hashSink
}

// chunkSize is the size of the buffers a file the rules and the scan do not want is streamed in.
const chunkSize = 1 << 20

func newIndexer(lim imageref.Limits) *indexer {
	ix := &indexer{sink: newHashSink()}
	ix.count = countWriter{w: ix.sink, max: lim.MaxImageBytes}
	if ix.count.max <= 0 {
		ix.count.max = imageref.DefaultMaxImageBytes
	}
	ix.tw = tar.NewWriter(&ix.count)
	return ix
}

// finish ends the tar stream and returns its digest and size.
func (ix *indexer) finish() (string, int64, error) {
	if err := ix.tw.Close(); err != nil {
		return "", 0, err
	}
	return fmt.Sprintf("sha256:%x", ix.sink.sum()), ix.count.n, nil
}

// stop ends the hashing goroutine of a walk that failed; it does nothing after finish.
func (ix *indexer) stop() { ix.sink.sum() }

// entry returns the content the rules keep, after hashing the entry and handing it to the scan.
func (ix *indexer) entry(h *tar.Header, r io.Reader, scan *secrets.FileScan) ([]byte, error) {
	digest := ix != nil
	if digest {
		if err := ix.tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("writing /%s: %w", h.Name, err)
		}
	}
	if h.Typeflag != tar.TypeReg {
		return nil, nil
	}
	if h.Size == 0 {
		if r != nil && keep(h.Name, 0) {
			return []byte{}, nil // kept, and empty
		}
		return nil, nil
	}
	if r == nil {
		if digest {
			return nil, fmt.Errorf("reading /%s: no content", h.Name)
		}
		return nil, nil
	}
	kept := keep(h.Name, h.Size)
	scanned := scan != nil && scan.Want(h.Name, h.Size)
	if !kept && !scanned {
		if digest {
			return nil, ix.stream(h, r, h.Size)
		}
		return nil, nil
	}
	var head []byte
	if !kept {
		// Only the scan wants the file: its head says whether it is text, before the rest is read.
		head = make([]byte, min(h.Size, secrets.SniffBytes))
		n, err := io.ReadFull(r, head)
		switch {
		case errors.Is(err, io.ErrUnexpectedEOF) && !digest:
			return nil, nil // it changed under the walk; it has no text to scan
		case errors.Is(err, io.ErrUnexpectedEOF):
			return nil, changed(h, int64(n))
		case err != nil:
			return nil, fmt.Errorf("reading /%s: %w", h.Name, err)
		}
		if !scan.Sniff(head) {
			if !digest {
				return nil, nil
			}
			ix.sink.owned = true
			_, err := ix.tw.Write(head)
			ix.sink.owned = false
			if err != nil {
				return nil, fmt.Errorf("writing /%s: %w", h.Name, err)
			}
			return nil, ix.stream(h, r, h.Size-int64(len(head)))
		}
	}
	data := make([]byte, h.Size)
	copy(data, head)
	n, err := io.ReadFull(r, data[len(head):])
	n += len(head)
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF) && !digest:
		data = data[:n] // the rules read what there is, as before
	case errors.Is(err, io.ErrUnexpectedEOF):
		return nil, changed(h, int64(n))
	case err != nil:
		return nil, fmt.Errorf("reading /%s: %w", h.Name, err)
	}
	if digest {
		// data is never written to again: the hashing goroutine may read it as it is.
		ix.sink.owned = true
		_, err := ix.tw.Write(data)
		ix.sink.owned = false
		if err != nil {
			return nil, fmt.Errorf("writing /%s: %w", h.Name, err)
		}
	}
	if scanned {
		if err := scan.Add(h.Name, data); err != nil {
			return nil, err
		}
	}
	if kept {
		return data, nil
	}
	return nil, nil
}

// stream hashes the rest of a file nobody else reads (left bytes), in chunks handed over to the
// hashing goroutine.
func (ix *indexer) stream(h *tar.Header, r io.Reader, left int64) error {
	for left > 0 {
		buf := ix.sink.buffer()
		n, err := io.ReadFull(r, buf[:min(left, int64(len(buf)))])
		if n > 0 {
			ix.sink.pooled = true
			_, werr := ix.tw.Write(buf[:n])
			ix.sink.pooled = false
			if werr != nil {
				return fmt.Errorf("writing /%s: %w", h.Name, werr)
			}
		} else {
			ix.sink.release(buf)
		}
		left -= int64(n)
		switch {
		case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
			return changed(h, h.Size-left)
		case err != nil:
			return fmt.Errorf("reading /%s: %w", h.Name, err)
		}
	}
	return nil
}

func changed(h *tar.Header, n int64) error {
	return fmt.Errorf("reading /%s: %d of %d bytes (the file changed while being read)", h.Name, n, h.Size)
}

// hashSink is a writer whose bytes are hashed by a goroutine of its own, in the order written. A
// write is copied unless the writer says the slice is never modified again (owned) or is one of the
// sink's buffers, handed over (pooled). At most maxInflight bytes wait to be hashed, however far
// the walk gets ahead (a file handed over whole may be up to the scan's size cap).
type hashSink struct {
	owned, pooled bool

	chunks chan chunk
	free   chan []byte
	done   chan struct{}
	h      hash.Hash
	ended  bool

	mu       sync.Mutex
	drained  *sync.Cond
	inflight int
}

// maxInflight bounds the bytes written to a hashSink and not hashed yet.
const maxInflight = 32 << 20

type chunk struct {
	b      []byte
	pooled bool
}

// sinkBuffers bounds how far the reading may run ahead of the hashing.
const sinkBuffers = 8

func newHashSink() *hashSink {
	s := &hashSink{chunks: make(chan chunk, 256), free: make(chan []byte, sinkBuffers), done: make(chan struct{}), h: sha256.New()}
	s.drained = sync.NewCond(&s.mu)
	for range sinkBuffers {
		s.free <- make([]byte, chunkSize)
	}
	go func() {
		defer close(s.done)
		for c := range s.chunks {
			s.h.Write(c.b)
			s.mu.Lock()
			s.inflight -= len(c.b)
			s.drained.Signal()
			s.mu.Unlock()
			if c.pooled {
				s.free <- c.b[:cap(c.b)]
			}
		}
	}()
	return s
}

// buffer waits for a free buffer; release gives one back unused.
func (s *hashSink) buffer() []byte   { return <-s.free }
func (s *hashSink) release(b []byte) { s.free <- b[:cap(b)] }

func (s *hashSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	for s.inflight > 0 && s.inflight+len(p) > maxInflight {
		s.drained.Wait()
	}
	s.inflight += len(p)
	s.mu.Unlock()
	switch {
	case s.pooled:
		s.chunks <- chunk{b: p, pooled: true}
	case s.owned:
		s.chunks <- chunk{b: p}
	default:
		s.chunks <- chunk{b: append([]byte(nil), p...)}
	}
	return len(p), nil
}

// sum waits for the goroutine to hash everything written and returns the hash.
func (s *hashSink) sum() []byte {
	if !s.ended {
		s.ended = true
		close(s.chunks)
	}
	<-s.done
	return s.h.Sum(nil)
}
