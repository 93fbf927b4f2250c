package vmimage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// espSize is the EFI System Partition: the kernel and an initrd with most modules fit several times.
const espSize = 256 << 20

// DiskLayout is what Assemble makes: the sizes and identities of the disk and its two partitions.
type DiskLayout struct {
	Size int64 // bytes, a multiple of 1 MiB
	// Seed derives every GUID, UUID and volume ID, so that the same image has the same ones in each
	// build; it is the image's name and version.
	Seed string
	// Epoch is the time every timestamp the tools write is set or clamped to.
	Epoch time.Time
}

// DiskGUID is the GPT's disk GUID.
func (d DiskLayout) DiskGUID() GUID { return derivedGUID(d.Seed, "disk") }

// RootUUID is the ext4 UUID of the root file system (root=UUID= on the kernel command line).
func (d DiskLayout) RootUUID() GUID { return derivedGUID(d.Seed, "root-fs") }

// espVolumeID is the FAT volume ID, the ESP's UUID in /dev/disk/by-uuid.
func (d DiskLayout) espVolumeID() string {
	g := derivedGUID(d.Seed, "esp-fs")
	return hex.EncodeToString(g[:4])
}

// Table is the partition table of the disk: the ESP at 1 MiB, then the root partition up to the
// last 1 MiB (which holds the backup GPT).
func (d DiskLayout) Table() GPT {
	sectors := uint64(d.Size / sectorSize) //nolint:gosec // Size is validated positive (spec disk-size >= 512M)
	align := uint64(partAlign / sectorSize)
	espFirst := align
	espLast := espFirst + espSize/sectorSize - 1
	rootFirst := espLast + 1
	rootLast := sectors - align - 1
	return GPT{DiskGUID: d.DiskGUID(), Sectors: sectors, Partitions: []Partition{
		{Type: TypeESP, GUID: derivedGUID(d.Seed, "esp"), FirstLBA: espFirst, LastLBA: espLast, Name: "ESP"},
		{Type: TypeRootX864, GUID: derivedGUID(d.Seed, "root"), FirstLBA: rootFirst, LastLBA: rootLast, Name: "root"},
	}}
}

// ESPFile is a file to put on the ESP: Source on this machine, Path on the FAT file system.
type ESPFile struct {
	Source, Path string
}

// Parts are the digests of a disk's pieces, so that two builds that differ say where.
type Parts struct {
	Table string `json:"table"` // the primary GPT sectors 0-33
	ESP   string `json:"esp"`
	Root  string `json:"root"`
}

// Assemble writes a raw GPT disk at out: an ESP holding esp, and an ext4 root file system holding
// the tree rootDir. Nothing is mounted and no loop device is used: mkfs.ext4 -d copies the tree, mtools
// write the FAT, and both images are copied into the disk file at their partitions' offsets. work
// holds the two file system images meanwhile.
func Assemble(ctx context.Context, d DiskLayout, rootDir string, esp []ESPFile, work, out string) (Parts, error) {
	var parts Parts
	t := d.Table()
	espPart, rootPart := t.Partitions[0], t.Partitions[1]
	espImg, rootImg := filepath.Join(work, "esp.img"), filepath.Join(work, "root.img")
	for _, p := range []string{espImg, rootImg} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return parts, err
		}
	}
	if err := makeESP(ctx, d, espImg, espPart.Size(), esp); err != nil {
		return parts, err
	}
	if err := makeRoot(ctx, d, rootImg, rootPart.Size(), rootDir); err != nil {
		return parts, err
	}
	f, err := os.OpenFile(out, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644) //nolint:gosec // a disk image is meant to be readable, as the OCI layouts are
	if err != nil {
		return parts, fmt.Errorf("creating the disk: %w", err)
	}
	defer f.Close()
	if err := f.Truncate(d.Size); err != nil {
		return parts, fmt.Errorf("sizing the disk: %w", err)
	}
	if err := t.WriteTo(f); err != nil {
		return parts, err
	}
	for _, c := range []struct {
		img string
		at  Partition
		sum *string
	}{{espImg, espPart, &parts.ESP}, {rootImg, rootPart, &parts.Root}} {
		if *c.sum, err = copySparse(f, c.img, c.at.Offset(), c.at.Size()); err != nil {
			return parts, err
		}
	}
	head := make([]byte, (2+gptTableBytes/sectorSize)*sectorSize)
	if _, err := f.ReadAt(head, 0); err != nil {
		return parts, err
	}
	parts.Table = digest(head)
	return parts, f.Close()
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// makeESP makes the FAT32 ESP with a fixed volume ID and timestamps (mkfs.vfat --invariant, mcopy -m
// from sources whose times are clamped to the epoch).
func makeESP(ctx context.Context, d DiskLayout, img string, size int64, files []ESPFile) error {
	if err := run(ctx, d, "mkfs.vfat", "-F", "32", "-n", "ESP", "-i", d.espVolumeID(), "--invariant", "-C", img, strconv.FormatInt(size/1024, 10)); err != nil {
		return err
	}
	var dirs []string
	for _, f := range files {
		for dir := path.Dir(f.Path); dir != "/" && dir != "."; dir = path.Dir(dir) {
			if !slices.Contains(dirs, dir) {
				dirs = append(dirs, dir)
			}
		}
	}
	// Parents first.
	slices.SortFunc(dirs, func(a, b string) int { return strings.Count(a, "/") - strings.Count(b, "/") })
	for _, dir := range dirs {
		if err := run(ctx, d, "mmd", "-i", img, "::"+dir); err != nil {
			return err
		}
	}
	for _, f := range files {
		if err := os.Chtimes(f.Source, d.Epoch, d.Epoch); err != nil {
			return fmt.Errorf("ESP file %s: %w", f.Path, err)
		}
		if err := run(ctx, d, "mcopy", "-m", "-i", img, f.Source, "::"+f.Path); err != nil {
			return err
		}
	}
	return nil
}

// makeRoot makes the ext4 root file system from the tree with a fixed UUID, directory hash seed and
// time (E2FSPROGS_FAKE_TIME), so that only the tree's content decides the bytes.
func makeRoot(ctx context.Context, d DiskLayout, img string, size int64, rootDir string) error {
	paths, err := clampTimes(rootDir, d.Epoch)
	if err != nil {
		return err
	}
	uuid := strings.ToLower(d.RootUUID().String())
	if err := run(ctx, d, "mkfs.ext4", "-q", "-F", "-L", "root", "-U", uuid,
		"-E", "hash_seed="+uuid+",root_owner=0:0", "-b", "4096", "-d", rootDir, img, strconv.FormatInt(size/1024, 10)+"k"); err != nil {
		return err
	}
	return setCtimes(ctx, d, img, paths)
}

// setCtimes sets every inode's change time to the epoch with debugfs. mkfs.ext4 -d (e2fsprogs 1.47.0)
// copies each file's ctime, which no one can set on the source tree: it is when the build wrote the
// file, so without this no two builds would be equal.
func setCtimes(ctx context.Context, d DiskLayout, img string, paths []string) error {
	var script strings.Builder
	at := "@" + strconv.FormatInt(d.Epoch.Unix(), 10)
	for _, p := range paths {
		if strings.ContainsAny(p, "\"\n") {
			return fmt.Errorf("the root file system holds a path debugfs cannot be given: %q", p)
		}
		if p == "." {
			p = ""
		}
		fmt.Fprintf(&script, "sif \"/%s\" ctime %s\n", p, at)
	}
	scriptFile := img + ".debugfs"
	if err := os.WriteFile(scriptFile, []byte(script.String()), 0o600); err != nil {
		return err
	}
	defer func() { _ = os.Remove(scriptFile) }()
	cmd := exec.CommandContext(ctx, "debugfs", "-w", "-f", scriptFile, img) //nolint:gosec // a fixed tool on files this package made
	// debugfs writes the superblock's last write time when it closes the file system.
	cmd.Env = append(os.Environ(), "LC_ALL=C", "E2FSPROGS_FAKE_TIME="+strconv.FormatInt(d.Epoch.Unix(), 10))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("debugfs: %w: %s", err, lastLines(string(out), 20))
	}
	// debugfs echoes each command and reports a failed one on the next line, exiting 0 regardless.
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line != "" && !strings.HasPrefix(line, "debugfs") {
			return fmt.Errorf("debugfs: setting change times: %s", line)
		}
	}
	return nil
}

// copySparse copies the file system image src into disk at off, skipping runs of zeros so that the
// disk stays sparse, and returns the digest of the partition's bytes (the image padded with zeros to
// size).
func copySparse(disk *os.File, src string, off, size int64) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return "", err
	}
	if fi.Size() > size {
		return "", fmt.Errorf("%s is %d bytes, the partition %d", src, fi.Size(), size)
	}
	h := sha256.New()
	buf := make([]byte, 1<<20)
	zero := make([]byte, len(buf))
	var pos int64
	for {
		n, err := io.ReadFull(in, buf)
		if n > 0 {
			h.Write(buf[:n])
			if !bytes.Equal(buf[:n], zero[:n]) {
				if _, err := disk.WriteAt(buf[:n], off+pos); err != nil {
					return "", fmt.Errorf("writing the disk: %w", err)
				}
			}
			pos += int64(n)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return "", err
		}
	}
	for pos < size {
		n := min(int64(len(zero)), size-pos)
		h.Write(zero[:n])
		pos += n
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// run runs a tool with the build's epoch in the environment (SOURCE_DATE_EPOCH, and e2fsprogs' own
// E2FSPROGS_FAKE_TIME); a failure carries the tool's stderr.
func run(ctx context.Context, d DiskLayout, tool string, args ...string) error {
	cmd := exec.CommandContext(ctx, tool, args...) //nolint:gosec // the tools are this package's own choice; args are paths it made
	// Cancelled, a tool gets SIGTERM and time to clean up: mmdebstrap unmounts what it mounted in
	// its chroot, which a SIGKILL would leave behind.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	epoch := strconv.FormatInt(d.Epoch.Unix(), 10)
	cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH="+epoch, "E2FSPROGS_FAKE_TIME="+epoch, "MTOOLS_SKIP_CHECK=1", "LC_ALL=C")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w: %s", tool, err, strings.TrimSpace(lastLines(stderr.String(), 20)))
	}
	return nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// toQCOW2 converts the raw disk with qemu-img.
func toQCOW2(ctx context.Context, d DiskLayout, raw, out string) error {
	err := run(ctx, d, "qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", raw, out)
	return err
}
