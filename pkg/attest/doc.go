// Package attest turns what ingot knows about an image into in-toto predicates: it makes the SLSA
// provenance v1 of a build, and reads an image's recorded evidence back as the predicates (provenance,
// SBOMs, vulnerability scan, hardening and test results) that pkg/sign wraps in signed Statements.
// Predicate types are the URIs cosign and policy engines already know, plus two of ingot's own.
package attest
