// Package catalog is the record at the centre of ingot: every built image version with its digests,
// the spec and lock it came from, its evidence, where it lives, what was signed for it, and its
// status (active, deprecated, revoked, end of life), plus the append-only history of every change.
//
// The types here are the domain; storage lives in adapters behind the Catalog interface
// (catalog/sqlite for the embedded default, catalog/postgres for teams that outgrow one machine), and
// files in the data directory, in-toto predicates and API responses are renderings of a Version.
// What does not depend on a database (status transitions, tags, version ranges) is decided here, once,
// so every backend behaves the same; catalogtest holds the suite every backend must pass.
package catalog
