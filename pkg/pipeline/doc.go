// Package pipeline runs ingot's stages in order: Lock resolves a spec against its verified
// repositories into a lock, and Build turns spec and lock into an image (or index) using only what the
// lock pins, verifying every package's sha256 before use. It owns no format of its own; it converts
// between the spec, lock, apt and build packages so that each of those stays independent.
package pipeline
