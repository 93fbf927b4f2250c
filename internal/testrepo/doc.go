// Package testrepo publishes a real, OpenPGP-signed Debian repository of debtest packages over a loopback
// HTTP server, so the apt client and everything above it are tested against the same files and
// signatures a Debian mirror serves, including tampered, expired and wrongly signed ones.
package testrepo
