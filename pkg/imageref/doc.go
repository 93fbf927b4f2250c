// Package imageref opens an image however the user names it: an ingot store entry (NAME[:TAG]), an
// OCI layout (oci:DIR[:TAG]), a docker-load archive (docker-archive:FILE), or a registry reference.
// Every evidence stage (sbom, scan, secrets, lint, test) takes its image through here, so each of them
// runs on images built elsewhere exactly as on ingot's own.
package imageref
