// Package imageref opens an image however the user names it: an ingot store entry (NAME[:TAG]), an
// OCI layout (oci:DIR[:TAG]), a docker-load archive (docker-archive:FILE), or a registry reference
// (registry:REF forces one). Every evidence stage (sbom, scan, secrets, lint, test) takes its image
// through here, so each of them runs on images built elsewhere exactly as on ingot's own. A name that
// looks like a local path is only ever read from disk: a typo is "no such file", not a registry lookup.
// Stages read layers through LayerReader, which reads each layer to its end (so a layout blob that
// does not match its digest is an error) under a decompressed budget per image.
package imageref
