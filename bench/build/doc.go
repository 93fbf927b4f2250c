// Command build measures how fast ingot builds an image compared with the usual Debian way of making
// one, mmdebstrap --variant=extract followed by umoci, for the same package list read from the same
// local, Debian-signed partial mirror, so that neither tool pays for the network.
//
// It reports each tool's median wall time and installed package count (apt cannot exclude the
// dependencies that an ingot spec cuts), the ratio between them, the compressed size of each image,
// and the time of a no-op ingot rebuild of an unchanged spec. It measures and prints; it asserts
// nothing. Setup needs the network once, root, and the Debian packages mmdebstrap and umoci; see
// bench/README.md.
package main
