package imageref

// Inflating a gzip layer is most of what a cold sbom or scan of an ordinary image costs: the 65 MB
// layer of a Debian minbase image takes klauspost/compress 1.0 to 1.2 s of CPU on the 2-core
// machine, where igzip (Intel's ISA-L, Debian's isal package) takes 0.4 s. So a large gzip layer is
// inflated by igzip when it is installed, as pkg/deb does with xz; Go's decoder does the rest, and
// everything when igzip is missing. Either way the compressed bytes are read, and checked against
// the layer's digest, by this process: igzip only ever sees them through a pipe (extproc), and its
// exit status (a truncated stream, a CRC that does not match) is checked.

// gzipExternalMin is the compressed size from which a gzip layer is inflated by igzip; below it,
// starting a process costs more than it saves. A variable so that tests can send every layer
// through either.
var gzipExternalMin int64 = 4 << 20
