// Package build assembles verified Debian packages, accounts, local files and path operations into a
// reproducible OCI image, the way distroless images are made: packages are unpacked, never installed.
// The same Options always give the same bytes, and layers built from the same packages are shared
// between images.
//
// Skipping maintainer scripts has consequences the caller should know about. No alternatives symlinks
// are made (so /usr/bin/awk and friends exist only when a package ships them directly), no caches are
// generated (ld.so.cache, gdk-pixbuf loaders, GIO modules, fontconfig), no debconf questions are asked
// and no system users are created by postinst. Static binaries and dynamically linked ones that rely on
// glibc's default library paths (/lib, /usr/lib and the multiarch directories) still work, because the
// dynamic loader falls back to those when ld.so.cache is missing. The one trigger an image cannot live
// without is emulated: when ca-certificates is installed, /etc/ssl/certs/ca-certificates.crt is
// generated as update-ca-certificates would by default.
//
// Packages are recorded in the distroless layout (/var/lib/dpkg/status.d/<name> holding the package's
// control file verbatim, plus <name>.md5sums), which syft, grype and trivy read.
package build
