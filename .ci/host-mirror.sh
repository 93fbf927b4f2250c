#!/usr/bin/env bash
# Makes, once, the local partial mirror the VM boot test builds examples/vm from: examples/vm's
# packages locked against the host's own apt sources (whatever mirror they name), written with the
# suite's signed InRelease and Packages index by ingot host mirror. The tests reach nothing beyond
# this machine; this script is the one step that uses the network, and a cached mirror skips it.
# Prints the mirror's archive root, for INGOT_HOST_MIRROR.
set -euo pipefail
cd "$(dirname "$0")/.."

cache="${INGOT_CI_CACHE:-$HOME/.cache/ingot-ci}"
mirror="$cache/host-mirror"
# Kept for the spec it was made for: a changed examples/vm makes it again.
key=$(sha256sum examples/vm/ingot.yaml | cut -d' ' -f1)
if [ -f "$mirror/.complete" ] && [ "$(cat "$mirror/.complete")" = "$key" ]; then
  echo "$mirror"
  exit 0
fi
work="$cache/host-mirror-work"
rm -rf "$work" "$mirror"
mkdir -p "$work"
go build -o "$work/ingot" ./cmd/ingot
cp examples/vm/ingot.yaml "$work/ingot.yaml"
"$work/ingot" --quiet --data-dir "$work/data" lock "$work" >&2
"$work/ingot" --quiet --data-dir "$work/data" host mirror "$work" "$work/mirror" >&2
# examples/vm has one repository: its archive root is the mirror.
mv "$work/mirror/0" "$mirror"
echo "$key" > "$mirror/.complete"
rm -rf "$work"
echo "$mirror"
