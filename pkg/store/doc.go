// Package store owns ingot's data directory: where each kind of data lives (OCI layouts, the package
// and index caches, the build and inventory caches, signature material, recorded evidence, the
// vulnerability database), and the housekeeping that spans them (sweeping the temporary files of
// killed runs). Every other package and command asks the store for a location instead of joining
// paths itself, so the layout of the directory is written down once.
package store
