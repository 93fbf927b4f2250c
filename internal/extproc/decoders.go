package extproc

import "io"

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

// Installed says whether the program is on PATH (not on a distroless host).
func (d Decoder) Installed() bool { return d.program() != "" }

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
