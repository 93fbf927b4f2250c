package deb

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sync"
)

// xzExternalMin is the compressed size from which an xz member is decoded by the xz program rather
// than in Go. liblzma decodes about 2.5x faster than github.com/ulikunitz/xz (libc6's data.tar.xz,
// 13 MB: 0.21 s against 0.55 s), which is most of the time of a build; below this size starting a
// process costs more than it saves. A variable so that tests can send every member through either.
var xzExternalMin int64 = 256 << 10

// xzMemLimit bounds the memory the xz program may use, as zstdMaxMemory does for zstd: dpkg-deb's
// heaviest setting (xz -9e) needs 65 MiB.
const xzMemLimit = "256MiB"

// xzProgram is the xz program on PATH, or "" when there is none (a distroless host): the Go decoder
// is used then.
var xzProgram = sync.OnceValue(func() string {
	p, err := exec.LookPath("xz")
	if err != nil {
		return ""
	}
	return p
})

// xzProcess streams the output of "xz --decompress" over one member. A failure of the program (a
// corrupt or truncated stream) is an error at the end of its output, never a short stream ending in
// io.EOF.
type xzProcess struct {
	cmd    *exec.Cmd
	out    io.ReadCloser
	stderr bytes.Buffer
	err    error // sticky, once the output has ended
}

// startXZ starts the xz program on in. The environment is empty so that XZ_OPT and XZ_DEFAULTS cannot
// change what it does.
func startXZ(prog string, in io.Reader) (*xzProcess, error) {
	p := &xzProcess{cmd: exec.Command(prog, "--decompress", "--stdout", "--quiet", "--no-warn", "--memlimit-decompress="+xzMemLimit)} //nolint:gosec // the program found on PATH, fixed arguments
	p.cmd.Env = []string{"LC_ALL=C"}
	p.cmd.Stdin = in
	p.cmd.Stderr = &p.stderr
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p.out = out
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *xzProcess) Read(b []byte) (int, error) {
	if p.err != nil {
		return 0, p.err
	}
	n, err := p.out.Read(b)
	if errors.Is(err, io.EOF) {
		// The output ended: it is the whole stream only if xz says so.
		if werr := p.cmd.Wait(); werr != nil {
			p.err = fmt.Errorf("xz: %w: %s", werr, bytes.TrimSpace(p.stderr.Bytes()))
			return n, p.err
		}
		p.err = io.EOF
	}
	return n, err
}

// Close stops the program if its output was not read to the end (a tar reader stops at the end-of-
// archive blocks) and waits for it.
func (p *xzProcess) Close() error {
	if p.err != nil {
		return nil // waited for already
	}
	p.err = errors.New("xz: read after close")
	_ = p.out.Close()        // the program gets EPIPE if it is still writing
	_ = p.cmd.Process.Kill() // and is stopped if it is not
	_ = p.cmd.Wait()         // an error here is the kill's
	return nil
}
