// Package disk reads the root file system of a virtual machine disk image without mounting it: the
// partition table (GPT or MBR) and the ext4 file system through go-diskfs, qcow2 images through
// qemu-img converting them to a temporary raw image. Nothing here needs root or a loop device, and a
// damaged or hostile image gives an error, never a crash: the images come from outside.
package disk
