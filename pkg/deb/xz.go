package deb

// xzExternalMin is the compressed size from which an xz member is decoded by the xz program
// (extproc.XZ: an empty environment, a memory limit, its exit status checked) rather than in Go; a
// host without it (distroless) uses Go's decoder throughout. liblzma decodes about 2.5x faster than
// github.com/ulikunitz/xz (libc6's data.tar.xz, 13 MB: 0.21 s against 0.55 s), which is most of the
// time of a build. Member by member the program is no slower even below this size (a 10 KiB member:
// 2.4 ms against 3.0 ms, the process included), but across a whole build sending the small members
// through it too saved nothing measurable (an 8 KiB threshold against this one: the same CPU and
// wall time within 1%, on the 2-core machine), so they stay in this process. A variable so that
// tests can send every member through either.
var xzExternalMin int64 = 256 << 10
