// Package vmimage builds a virtual machine image from a spec with a vm section (ingot host build):
// mmdebstrap installs exactly the lock's packages, with their maintainer scripts, from a local mirror
// written out of ingot's verified package cache; the spec's hardening and a first-boot cleanup are
// applied to the tree; and the tree becomes a UEFI-bootable GPT disk (an ESP with systemd-boot, an
// ext4 root) without mounting anything or using loop devices, as a raw file and a qcow2. Every GUID,
// UUID and timestamp is derived from the spec or its epoch so that two builds can be compared byte for
// byte; Result says which parts differ when the tools do not allow equality.
package vmimage
