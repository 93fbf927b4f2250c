// Package selfid identifies the running ingot binary: by its Go build ID, which changes whenever the
// code or toolchain that built it does (caches key their entries with it, so a new ingot never
// reuses what an old one computed; reading the ELF note costs a millisecond where hashing the whole
// executable costs tens), and by its version, the one string that names ingot in what it prints and
// in every document it writes.
package selfid
