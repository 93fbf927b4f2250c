// Command build measures how fast ingot builds an image compared with the usual Debian way of making
// one, mmdebstrap --variant=extract followed by umoci, for the same package list read from the same
// local, Debian-signed partial mirror, so that neither tool pays for the network.
//
// It reports each tool's median wall and CPU time and installed package count (apt cannot exclude the
// dependencies that an ingot spec cuts), the ratios between them, the compressed size of each image,
// the time of a no-op and of a warm ingot rebuild, and the physical floor of the same build on this
// machine (decompressing the .debs once, compressing and hashing the layers once) with ingot's ratio
// to it, and how fast each decoder is alone. It measures and prints; it asserts nothing. Setup needs
// the network once, root, and the Debian packages mmdebstrap and umoci; see bench/README.md.
package main
