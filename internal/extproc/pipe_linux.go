package extproc

import (
	"os"

	"golang.org/x/sys/unix"
)

// pipeSize is the buffer asked for each pipe to and from the program. The default 64 KiB makes the
// program and this process take turns at a few pages each; 1 MiB (Linux's default maximum for an
// unprivileged process) lets each run ahead of the other, which on two cores is most of the gain of
// an external decoder.
const pipeSize = 1 << 20

// growPipe asks for a pipe buffer of pipeSize; a system that refuses keeps the default.
func growPipe(f *os.File) {
	if c, err := f.SyscallConn(); err == nil {
		_ = c.Control(func(fd uintptr) { _, _ = unix.FcntlInt(fd, unix.F_SETPIPE_SZ, pipeSize) })
	}
}
