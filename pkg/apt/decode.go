package apt

import (
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/ulikunitz/xz"

	"github.com/ingot-build/ingot/internal/extproc"
)

// A cold lock reads the suite's Packages index, about 9 MiB of gzip for Debian's main: inflating it
// in Go takes 0.35 s of CPU on the 2-core machine, about as long as parsing what comes out, while
// igzip (Debian's isal) takes a fifth of that. So a large index goes through igzip, or through xz for
// an .xz index, when the program is installed, as pkg/deb does with .deb members and imageref with
// layers; Go's decoders do the rest. The index is still read, hashed and checked against the signed
// Release by this process: the program only sees it through a pipe (extproc), and its exit status is
// checked at the end of its output.

// indexExternalMin is the compressed size from which an index is decompressed by a program; below it
// starting a process costs more than it saves. A variable so that tests can send every index through
// either.
var indexExternalMin int64 = 1 << 20

// indexDecoder starts the program that decompresses the index name of size bytes from r, or returns
// nil when there is none for it (an uncompressed or small index, a program that is missing or does
// not start): the Go decoder does the work then.
func indexDecoder(name string, size int64, r io.Reader) *extproc.Process {
	if size < indexExternalMin {
		return nil
	}
	var d extproc.Decoder
	switch {
	case strings.HasSuffix(name, ".gz"):
		d = extproc.Igzip
	case strings.HasSuffix(name, ".xz"):
		d = extproc.XZ
	default:
		return nil
	}
	p, _ := d.Start(r)
	return p
}

// decompressIndex streams the decompressed text of the index name (by its extension) of size bytes
// from r: through its program when there is one for it, else in Go. closeFn stops the program if it
// is still running, after its feeder has read all of r.
func decompressIndex(name string, size int64, r io.Reader) (_ io.Reader, closeFn func() error, err error) {
	if p := indexDecoder(name, size, r); p != nil {
		return p, p.Close, nil
	}
	noop := func() error { return nil }
	switch {
	case strings.HasSuffix(name, ".xz"):
		xr, err := xz.NewReader(r)
		if err != nil {
			return nil, nil, fmt.Errorf("decompressing: %w", err)
		}
		return xr, noop, nil
	case strings.HasSuffix(name, ".gz"):
		gr, err := gzip.NewReader(r)
		if err != nil {
			return nil, nil, fmt.Errorf("decompressing: %w", err)
		}
		return gr, gr.Close, nil
	}
	return r, noop, nil
}
