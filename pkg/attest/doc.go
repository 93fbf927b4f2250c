// Package attest turns what ingot knows about an image into in-toto predicates: it makes the SLSA
// provenance v1 of a build, and renders an image's evidence (an evidence.Set, held in memory by a
// build or read back from the catalog) as the predicates (provenance, SBOMs, vulnerability scan,
// hardening and test results) that pkg/sign wraps in signed Statements. Predicate types are the URIs
// cosign and policy engines already know, plus two of ingot's own.
package attest
