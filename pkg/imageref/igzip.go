package imageref

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
)

// Inflating a gzip layer is most of what a cold sbom or scan of an ordinary image costs: the 65 MB
// layer of a Debian minbase image takes klauspost/compress 1.0 to 1.2 s of CPU on the 2-core
// machine, where igzip (Intel's ISA-L, Debian's isal package) takes 0.4 s. So a large gzip layer is
// inflated by igzip when it is installed, as pkg/deb does with xz; Go's decoder does the rest, and
// everything when igzip is missing. Either way the compressed bytes are read, and checked against
// the layer's digest, by this process: igzip only ever sees them through a pipe.

// gzipExternalMin is the compressed size from which a gzip layer is inflated by igzip; below it,
// starting a process costs more than it saves. A variable so that tests can send every layer
// through either.
var gzipExternalMin int64 = 4 << 20

// igzipProgram is igzip on PATH, or "" when there is none.
var igzipProgram = sync.OnceValue(func() string {
	p, err := exec.LookPath("igzip")
	if err != nil {
		return ""
	}
	return p
})

// igzipProcess streams the output of "igzip --decompress" over a compressed stream that a
// goroutine of this process feeds it. A failure of the program (a corrupt or truncated stream, a
// CRC that does not match), or of reading the compressed stream (a blob that does not match its
// digest), is an error at the end of its output, never a short stream ending in io.EOF.
type igzipProcess struct {
	cmd      *exec.Cmd
	out      io.ReadCloser
	in       io.Reader // the compressed stream
	stderr   bytes.Buffer
	fed      chan error // the feeding goroutine's end: nil once it read the whole stream
	feedMu   sync.Once
	feedErr  error
	stopOnce sync.Once
	waited   bool  // the program has ended and been waited for
	err      error // sticky, once the output has ended
}

// startIgzip starts igzip on in. The environment is empty so that nothing but the arguments decides
// what it does.
func startIgzip(prog string, in io.Reader) (*igzipProcess, error) {
	p := &igzipProcess{cmd: exec.Command(prog, "--decompress", "--stdout", "--quiet"), in: in, fed: make(chan error, 1)} //nolint:gosec // the program found on PATH, fixed arguments
	p.cmd.Env = []string{"LC_ALL=C"}
	p.cmd.Stderr = &p.stderr
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	p.cmd.Stdin = pr
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, errors.Join(err, pr.Close(), pw.Close())
	}
	p.out = out
	if err := p.cmd.Start(); err != nil {
		return nil, errors.Join(err, pr.Close(), pw.Close())
	}
	_ = pr.Close() // the program holds its own copy
	go func() {
		_, err := io.Copy(pw, in)
		p.fed <- errors.Join(err, pw.Close())
	}()
	return p, nil
}

// feedResult waits for the feeding goroutine: nil when it read the whole compressed stream, the
// program having stopped reading or not.
func (p *igzipProcess) feedResult() error {
	p.feedMu.Do(func() {
		err := <-p.fed
		if errors.Is(err, syscall.EPIPE) {
			// The program stopped reading before the end (it stops after a gzip member, or it
			// failed): the rest of the stream is still read, so that its digest is checked.
			_, err = io.Copy(io.Discard, p.in)
		}
		p.feedErr = err
	})
	return p.feedErr
}

func (p *igzipProcess) Read(b []byte) (int, error) {
	if p.err != nil {
		return 0, p.err
	}
	n, err := p.out.Read(b)
	if errors.Is(err, io.EOF) {
		// The output ended: it is the whole stream only if the program says so and the compressed
		// stream was read whole. A blob that does not match its digest is the reason to give first.
		werr := p.cmd.Wait()
		p.waited = true
		if ferr := p.feedResult(); ferr != nil {
			p.err = ferr
			return n, p.err
		}
		if werr != nil {
			p.err = fmt.Errorf("igzip: %w: %s", werr, bytes.TrimSpace(p.stderr.Bytes()))
			return n, p.err
		}
		p.err = io.EOF
	}
	return n, err
}

// Close stops the program if its output was not read to the end (a tar reader stops at the end-of-
// archive blocks) and waits for it and for the goroutine feeding it.
func (p *igzipProcess) Close() error {
	if p.err != nil {
		return nil // waited for already
	}
	p.err = errors.New("igzip: read after close")
	p.stop()
	return nil
}

// stop stops the program, waits for it, and then for the goroutine feeding it (which ends when the
// program's pipe closes).
func (p *igzipProcess) stop() {
	p.stopOnce.Do(func() {
		if p.waited {
			return
		}
		_ = p.out.Close()        // the program gets EPIPE if it is still writing
		_ = p.cmd.Process.Kill() // and is stopped if it is not
		_ = p.cmd.Wait()         // an error here is the kill's
	})
	_ = p.feedResult()
}

// rest is the compressed stream after the program: once the program is stopped and the goroutine
// feeding it is done, what it did not read. Reading it to its end checks the blob's digest, as the
// raw stream of a layerStream must.
type rest struct{ p *igzipProcess }

func (r rest) Read(b []byte) (int, error) {
	r.p.stop()
	if err := r.p.feedResult(); err != nil {
		return 0, err
	}
	return r.p.in.Read(b)
}
