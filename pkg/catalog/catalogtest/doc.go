// Package catalogtest is the behaviour every catalog.Catalog backend must have, as a test suite: a
// backend's tests call Run with a function that opens an empty catalog, and, with two handles on one
// database, Concurrent. The suite checks what catalog.go documents, through the interface only.
package catalogtest
