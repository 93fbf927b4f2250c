// Package debtest builds real .deb archives in memory for tests, so every package that reads Debian
// packages is tested against the bytes dpkg-deb itself accepts rather than against hand-written mocks.
// It can also write deliberately hostile archives (path traversal, odd modes) through File.RawName.
package debtest
