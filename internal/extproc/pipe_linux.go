package extproc

import (
	"os"

	"golang.org/x/sys/unix"
)

// growPipe asks for a pipe buffer of PipeSize; a system that refuses keeps the default.
func growPipe(f *os.File) {
	if c, err := f.SyscallConn(); err == nil {
		_ = c.Control(func(fd uintptr) { _, _ = unix.FcntlInt(fd, unix.F_SETPIPE_SZ, PipeSize) })
	}
}
