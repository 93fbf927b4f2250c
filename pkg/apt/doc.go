// Package apt reads Debian repositories the way apt does, but for building images rather than a running
// system: it fetches a suite's Release, verifies its OpenPGP signature before reading a byte of it, and
// downloads Packages indexes and .deb files only when their size and SHA-256 match what the signed
// Release (or a lock) says. A content-addressed Cache keeps what was downloaded so a second run is
// offline-fast, and the resolver in this package turns the indexes into an installable set.
package apt
