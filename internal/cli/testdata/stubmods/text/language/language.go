// Package language is a stand-in for golang.org/x/text/language at v0.3.7, served to the test's
// private module proxy: scanners match a binary's dependencies by module path and version, which is
// all this stub has to reproduce, without a network.
package language

// Parse mimics the real function's signature.
func Parse(s string) (string, error) { return s, nil }
