// Package pipeline runs ingot's stages in order: Lock resolves a spec against its verified
// repositories into a lock, Build turns spec and lock into an image (or index) using only what the
// lock pins, verifying every package's sha256 before use, and returns its evidence; Publish is the one
// tail of the pipeline that the CLI, the rebuild workers and the server call: it builds, records the
// version in the catalog as pending, stores, pushes, signs, attests and verifies it, and marks it
// published, and CompletePending finishes what an interrupted Publish left. The package owns no format
// of its own; it converts between the spec, lock, apt, build, attest, sign and catalog packages so
// that each of those stays independent.
package pipeline
