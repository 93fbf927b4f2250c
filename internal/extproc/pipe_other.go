//go:build !linux

package extproc

import "os"

// growPipe keeps the default pipe buffer where F_SETPIPE_SZ does not exist.
func growPipe(*os.File) {}
