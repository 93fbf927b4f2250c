// Command verify measures ingot's signing and verification against cosign's, offline, with the same
// key, the same kind of image and the same loopback registry (Debian's docker-registry), in one run.
//
// It times signing a fresh image and attaching its five evidence documents as attestations, then
// verifying a signature and a SLSA provenance attestation, each tool as a separate process, and
// prints the medians and the ratios. It measures; it asserts no target. See bench/README.md.
package main
