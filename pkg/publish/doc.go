// Package publish stores built images: in an OCI image layout (the default, one layout per image name
// under the data directory), in any registry, or as a docker-load archive. Every writer is
// all-or-nothing: blobs are written to temporary files, checked against their digest and renamed, and
// the layout's index.json is replaced atomically, so a failure never leaves a half-written image.
// Layouts are read back through Layout, which checks every blob against its digest as it is read
// (ErrIntegrity); Layouts.Check walks a layout's images and repairs damaged blobs from other layouts.
package publish
