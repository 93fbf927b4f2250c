#!/bin/sh
# Recreates the .deb fixtures in this directory with the real dpkg-deb, so pkg/deb is tested against
# archives dpkg itself writes (member order, padding, compression choices). Run from anywhere:
#   sh pkg/deb/testdata/make-fixtures.sh
# Output is reproducible for a given dpkg version: timestamps come from SOURCE_DATE_EPOCH and files are
# owned by root.
set -eu
out=$(cd "$(dirname "$0")" && pwd)
SOURCE_DATE_EPOCH=1704164645 # 2024-01-02 03:04:05 UTC
export SOURCE_DATE_EPOCH
umask 022
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# hello: xz-compressed control and data (dpkg-deb's default), a conffile, a symlink.
r=$tmp/hello
mkdir -p "$r/DEBIAN" "$r/usr/bin" "$r/usr/share/doc/hello" "$r/etc"
printf '#!/bin/sh\necho "Hello, world!"\n' >"$r/usr/bin/hello"
chmod 0755 "$r/usr/bin/hello"
ln -s hello "$r/usr/bin/hi"
printf 'greeting=hello\n' >"$r/etc/hello.conf"
printf 'This fixture is in the public domain.\n' >"$r/usr/share/doc/hello/copyright"
cat >"$r/DEBIAN/control" <<'CTL'
Package: hello
Version: 1.0-1
Architecture: amd64
Maintainer: ingot tests <tests@example.org>
Installed-Size: 4
Depends: libc6 (>= 2.34), dash | bash
Section: devel
Priority: optional
Description: greeting fixture for ingot
 A tiny package built by make-fixtures.sh.
 .
 It has a conffile and a symlink.
CTL
printf '/etc/hello.conf\n' >"$r/DEBIAN/conffiles"
(cd "$r" && find usr etc -type f -exec md5sum {} + | sort -k2) >"$r/DEBIAN/md5sums"
# dpkg-deb takes entry mtimes from the tree; --clamp-mtime is not in every dpkg, so set them.
find "$r" -exec touch -h -d @"$SOURCE_DATE_EPOCH" {} +
dpkg-deb --root-owner-group -Zxz --build "$r" "$out/hello_1.0-1_amd64.deb" >/dev/null

# tiny: zstd data, gzip control, a hardlink, a setuid file and an empty directory.
r=$tmp/tiny
mkdir -p "$r/DEBIAN" "$r/usr/sbin" "$r/var/lib/tiny"
printf 'tiny\n' >"$r/usr/sbin/tiny"
chmod 04755 "$r/usr/sbin/tiny"
ln "$r/usr/sbin/tiny" "$r/usr/sbin/tiny-alias"
chmod 0700 "$r/var/lib/tiny"
cat >"$r/DEBIAN/control" <<'CTL'
Package: tiny
Source: tiny-src (0.1-2)
Version: 1:0.1-2+b1
Architecture: all
Maintainer: ingot tests <tests@example.org>
Multi-Arch: foreign
Description: hardlink and setuid fixture for ingot
CTL
find "$r" -exec touch -h -d @"$SOURCE_DATE_EPOCH" {} +
dpkg-deb --root-owner-group -Zzstd --build "$r" "$out/tiny_0.1-2+b1_all.deb" >/dev/null 2>&1 ||
	dpkg-deb --root-owner-group -Zgzip --build "$r" "$out/tiny_0.1-2+b1_all.deb" >/dev/null
