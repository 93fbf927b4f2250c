package extproc

import "io"

// PipeSize is the buffer asked for each pipe to and from the program (on Linux), and so the most a
// reader of its output gets at once. The default 64 KiB makes the program and this process take
// turns at a few pages each; 1 MiB (Linux's default maximum for an unprivileged process) lets each
// run ahead of the other, which on two cores is most of the gain of an external decoder.
const PipeSize = 1 << 20

// Decoder is a decompressing program: looked up on PATH once, run with fixed arguments that
// decompress standard input to standard output.
type Decoder struct {
	program func() string
	args    []string
}

// The decoders ingot uses where they are much faster than Go's: igzip (Intel's ISA-L, Debian's isal)
// for gzip, xz (liblzma) for xz. XZ's memory is bounded as zstd's is in Go: dpkg-deb's heaviest
// setting (xz -9e) needs 65 MiB.
var (
	Igzip = Decoder{program: Program("igzip"), args: []string{"--decompress", "--stdout", "--quiet"}}
	XZ    = Decoder{program: Program("xz"), args: []string{"--decompress", "--stdout", "--quiet", "--no-warn", "--memlimit-decompress=256MiB"}}
)

// Start runs the program over in (see Start); ok is false when it is missing or does not start (out
// of processes, say), and in is then untouched: the caller's Go decoder does the work.
func (d Decoder) Start(in io.Reader) (p *Process, ok bool) {
	prog := d.program()
	if prog == "" {
		return nil, false
	}
	p, err := Start(prog, d.args, in)
	return p, err == nil
}
