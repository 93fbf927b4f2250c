package apt

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// progressInterval is how often the progress line is redrawn: often enough to look alive, rarely enough
// not to flood a slow terminal.
const progressInterval = 150 * time.Millisecond

// progress draws "fetching 12/31 packages, 4.2/18.9 MiB" on one line, redrawn in place. A nil *progress
// is valid and draws nothing, so callers need not check whether a display was asked for.
type progress struct {
	w          io.Writer
	items      int
	totalBytes int64

	done  atomic.Int64
	bytes atomic.Int64

	quit    chan struct{}
	wg      sync.WaitGroup
	lastLen int    // only touched by the drawing goroutine, then by stop after it has ended
	last    string // ditto
}

// startProgress starts drawing to w, or returns nil when w is nil.
func startProgress(w io.Writer, items int, totalBytes int64) *progress {
	if w == nil {
		return nil
	}
	p := &progress{w: w, items: items, totalBytes: totalBytes, quit: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(progressInterval)
		defer t.Stop()
		p.draw()
		for {
			select {
			case <-t.C:
				p.draw()
			case <-p.quit:
				return
			}
		}
	}()
	return p
}

// line renders the current state.
func (p *progress) line() string {
	const mib = 1 << 20
	return fmt.Sprintf("fetching %d/%d packages, %.1f/%.1f MiB",
		p.done.Load(), p.items, float64(p.bytes.Load())/mib, float64(p.totalBytes)/mib)
}

func (p *progress) draw() {
	l := p.line()
	if l == p.last {
		return
	}
	pad := ""
	if n := p.lastLen - len(l); n > 0 {
		pad = strings.Repeat(" ", n) // blank out the tail of a longer previous line
	}
	fmt.Fprint(p.w, "\r"+l+pad)
	p.last, p.lastLen = l, len(l)
}

func (p *progress) itemDone() {
	if p != nil {
		p.done.Add(1)
	}
}

// counter returns a writer that counts the bytes written to it.
func (p *progress) counter() io.Writer {
	if p == nil {
		return io.Discard
	}
	return byteCounter{p}
}

type byteCounter struct{ p *progress }

func (b byteCounter) Write(d []byte) (int, error) {
	b.p.bytes.Add(int64(len(d)))
	return len(d), nil
}

// stop draws the final state and ends the line.
func (p *progress) stop() {
	if p == nil {
		return
	}
	close(p.quit)
	p.wg.Wait()
	p.draw()
	fmt.Fprint(p.w, "\n")
}
