// Package extproc runs an external decompressor (xz, igzip) over a stream, for inputs where the C
// decoder is much faster than Go's: the program gets an empty environment and fixed arguments, this
// process feeds it the input through a pipe (so the input is still read, and checked, here), and a
// failure of the program or of reading the input is an error at the end of the output, never a short
// stream ending in io.EOF.
package extproc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
)

// Program returns a function that finds name on PATH the first time it is called: "" when it is
// missing (a distroless host), and the caller's Go decoder does the work.
func Program(name string) func() string {
	return sync.OnceValue(func() string {
		p, err := exec.LookPath(name)
		if err != nil {
			return ""
		}
		return p
	})
}

// Process streams the output of a program over an input that a goroutine of this process feeds it.
type Process struct {
	name   string // the program's name, in errors
	cmd    *exec.Cmd
	out    io.ReadCloser
	in     io.Reader
	stderr bytes.Buffer

	fed      chan error // the feeding goroutine's end
	feedOnce sync.Once
	feedErr  error
	stopOnce sync.Once
	waited   bool  // the program has ended and been waited for
	err      error // sticky, once the output has ended
}

// Start runs prog with args over in. The environment holds only LC_ALL=C, so that nothing but the
// arguments decides what the program does (XZ_OPT, for one).
func Start(prog string, args []string, in io.Reader) (*Process, error) {
	p := &Process{name: filepath.Base(prog), cmd: exec.Command(prog, args...), in: in, fed: make(chan error, 1)} //nolint:gosec // G204: a program found on PATH, with the caller's fixed arguments
	p.cmd.Env = []string{"LC_ALL=C"}
	p.cmd.Stderr = &p.stderr
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	or, ow, err := os.Pipe()
	if err != nil {
		return nil, errors.Join(err, pr.Close(), pw.Close())
	}
	growPipe(pw)
	growPipe(ow)
	p.cmd.Stdin, p.cmd.Stdout, p.out = pr, ow, or
	if err := p.cmd.Start(); err != nil {
		return nil, errors.Join(err, pr.Close(), pw.Close(), or.Close(), ow.Close())
	}
	_ = ow.Close() // the program holds its own copies
	_ = pr.Close() // the program holds its own copy
	go func() {
		_, err := io.Copy(pw, in)
		p.fed <- errors.Join(err, pw.Close())
	}()
	return p, nil
}

// feedResult waits for the feeding goroutine: nil when the whole input was read, whether the
// program read all of it or not.
func (p *Process) feedResult() error {
	p.feedOnce.Do(func() {
		err := <-p.fed
		if errors.Is(err, syscall.EPIPE) {
			// The program stopped reading before the end (it had what it needed, or it failed):
			// the rest is still read, so that whatever checks the input as it is read checks it all.
			_, err = io.Copy(io.Discard, p.in)
		}
		p.feedErr = err
	})
	return p.feedErr
}

// Read reads the program's output. At its end, an error reading the input comes first (a blob that
// does not match its digest is the reason to give), then the program's own failure.
func (p *Process) Read(b []byte) (int, error) {
	if p.err != nil {
		return 0, p.err
	}
	n, err := p.out.Read(b)
	if errors.Is(err, io.EOF) {
		werr := p.cmd.Wait()
		p.waited = true
		_ = p.out.Close() // our end of the output pipe: Wait closes only what exec made
		if ferr := p.feedResult(); ferr != nil {
			p.err = ferr
			return n, p.err
		}
		if werr != nil {
			p.err = fmt.Errorf("%s: %w: %s", p.name, werr, bytes.TrimSpace(p.stderr.Bytes()))
			return n, p.err
		}
		p.err = io.EOF
	}
	return n, err
}

// Close stops the program if its output was not read to the end (a tar reader stops at the
// end-of-archive blocks), and waits for it and for the goroutine feeding it.
func (p *Process) Close() error {
	if p.err != nil {
		return nil // waited for already
	}
	p.err = fmt.Errorf("%s: read after close", p.name)
	p.stop()
	return nil
}

// stop stops the program and waits for it, then for the goroutine feeding it (which ends when the
// program's end of the pipe closes).
func (p *Process) stop() {
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

// Rest returns the input the program did not read, once it is stopped: reading it to its end lets
// whatever checks the input as it is read (a digest) check it all, after the output failed.
func (p *Process) Rest() io.Reader { return rest{p} }

type rest struct{ p *Process }

func (r rest) Read(b []byte) (int, error) {
	r.p.stop()
	if err := r.p.feedResult(); err != nil {
		return 0, err
	}
	return r.p.in.Read(b)
}
