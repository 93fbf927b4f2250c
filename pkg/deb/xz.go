package deb

import (
	"io"

	"github.com/ingot-build/ingot/internal/extproc"
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
var xzProgram = extproc.Program("xz")

// startXZ starts the xz program on in (see extproc: an empty environment, its exit status checked at
// the end of its output).
func startXZ(prog string, in io.Reader) (*extproc.Process, error) {
	return extproc.Start(prog, []string{"--decompress", "--stdout", "--quiet", "--no-warn", "--memlimit-decompress=" + xzMemLimit}, in)
}
