// Package evidence is the one data model of what ingot knows about an image: its inventory of
// packages and the findings against it (vulnerabilities, secrets, hardening rules, structure tests).
// SBOM documents, SARIF, tables, in-toto predicates and catalog records are all renderings of these
// types, so every consumer reads the same facts.
package evidence
