// Package store owns ingot's data directory: where each kind of data lives (the catalog, OCI
// layouts, the package and index caches, the build and inventory caches, signature material, the
// evidence directories, the vulnerability database, the locks on versions being published), and the
// housekeeping that spans them (sweeping the temporary files of killed runs). Every other package and
// command asks the store for a location or a record instead of joining paths itself, so the layout of
// the directory is written down once. The evidence directories are a rendering of each image's
// evidence.Set for people and other tools (WriteEvidence), read back for images ingot did not build
// (ReadEvidence); the catalog holds the record.
package store
