// Package fault classifies errors into the few kinds a caller acts on: bad input, something missing,
// damaged content, an unavailable service, a conflict, a refused caller. Every package keeps its own
// sentinel errors (they say what failed); each sentinel carries one kind, so the CLI maps any error to
// an exit code and the server to an HTTP status in one place, without a list of every sentinel.
package fault
