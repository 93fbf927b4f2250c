// Package deb reads the Debian formats ingot builds images from: deb822 control paragraphs (Packages
// indices, control files, Release files), package versions with dpkg's exact ordering, relationship
// fields such as Depends, and .deb archives. Everything here parses untrusted input, so the parsers are
// strict, bounded and fuzzed, and archive reading refuses paths that would escape the image root.
package deb
