package vmimage

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ingot-build/ingot/internal/regtest"
)

// diskTools are the Debian tools Assemble drives; the tests fail under CI when one is missing.
var diskTools = []string{"mkfs.ext4", "mkfs.vfat", "mmd", "mcopy"}

func fixtureTree(t *testing.T) (root string, esp []ESPFile) {
	t.Helper()
	root = t.TempDir()
	for name, body := range map[string]string{
		"etc/hostname":            "fixture\n",
		"usr/bin/hello":           "#!/bin/sh\necho hello\n",
		"var/lib/dpkg/status":     "Package: fixture\n",
		"boot/vmlinuz-6.1.0-1":    "kernel bytes",
		"boot/initrd.img-6.1.0-1": "initrd bytes",
	} {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("hello", filepath.Join(root, "usr/bin/hi")); err != nil {
		t.Fatal(err)
	}
	entry := filepath.Join(t.TempDir(), "entry.conf")
	if err := os.WriteFile(entry, []byte("title fixture\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return root, []ESPFile{
		{Source: filepath.Join(root, "boot/vmlinuz-6.1.0-1"), Path: "/vmlinuz"},
		{Source: entry, Path: "/loader/entries/ingot.conf"},
	}
}

func TestAssemble(t *testing.T) {
	for _, tool := range append(diskTools, "sfdisk", "debugfs", "mtype") {
		regtest.Peer(t, tool)
	}
	ctx := context.Background()
	root, esp := fixtureTree(t)
	d := DiskLayout{Size: 512 << 20, Seed: "fixture\x00v1", Epoch: time.Unix(1700000000, 0)}
	work := t.TempDir()
	raw := filepath.Join(work, "disk.raw")
	parts, err := Assemble(ctx, d, root, esp, work, raw)
	if err != nil {
		t.Fatal(err)
	}

	// Our own reader and util-linux's sfdisk read back the same table.
	f, err := os.Open(raw)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := ReadGPT(f, d.Size)
	if err != nil {
		t.Fatal(err)
	}
	want := d.Table()
	if got.DiskGUID != want.DiskGUID || len(got.Partitions) != 2 {
		t.Fatalf("read back %+v, want %+v", got, want)
	}
	for i := range want.Partitions {
		if got.Partitions[i] != want.Partitions[i] {
			t.Errorf("partition %d: read back %+v, want %+v", i+1, got.Partitions[i], want.Partitions[i])
		}
	}
	out, err := exec.Command("sfdisk", "--json", raw).Output()
	if err != nil {
		t.Fatalf("sfdisk --json: %v", err)
	}
	var sf struct {
		PartitionTable struct {
			Label      string
			ID         string
			Partitions []struct {
				Start, Size int64
				Type, UUID  string
			}
		}
	}
	if err := json.Unmarshal(out, &sf); err != nil {
		t.Fatal(err)
	}
	pt := sf.PartitionTable
	if pt.Label != "gpt" || pt.ID != want.DiskGUID.String() || len(pt.Partitions) != 2 {
		t.Fatalf("sfdisk reads %s", out)
	}
	for i, p := range pt.Partitions {
		w := want.Partitions[i]
		if p.Start != int64(w.FirstLBA) || p.Size*sectorSize != w.Size() || p.Type != w.Type.String() || p.UUID != w.GUID.String() {
			t.Errorf("sfdisk partition %d = %+v, want %+v", i+1, p, w)
		}
	}

	// The root partition is ext4 with the tree's files and the derived UUID; the ESP holds its files.
	rootAt := raw + "?offset=" + strconv.FormatInt(want.Partitions[1].Offset(), 10)
	if out, err := exec.Command("debugfs", "-R", "cat /etc/hostname", rootAt).Output(); err != nil || string(out) != "fixture\n" {
		t.Errorf("debugfs cat /etc/hostname = %q, %v", out, err)
	}
	if out, err := exec.Command("debugfs", "-R", "stat /usr/bin/hi", rootAt).CombinedOutput(); err != nil || !strings.Contains(string(out), `Fast link dest: "hello"`) {
		t.Errorf("debugfs stat /usr/bin/hi: %v\n%s", err, out)
	}
	if out, err := exec.Command("dumpe2fs", "-h", rootAt).CombinedOutput(); err != nil || !strings.Contains(string(out), strings.ToLower(d.RootUUID().String())) {
		t.Errorf("dumpe2fs does not show the root UUID %s: %v\n%s", d.RootUUID(), err, out)
	}
	espAt := raw + "@@" + strconv.FormatInt(want.Partitions[0].Offset(), 10)
	if out, err := exec.Command("mtype", "-i", espAt, "::/loader/entries/ingot.conf").Output(); err != nil || string(out) != "title fixture\n" {
		t.Errorf("mtype entry = %q, %v", out, err)
	}

	// The same inputs give the same disk, piece by piece.
	work2 := t.TempDir()
	parts2, err := Assemble(ctx, d, root, esp, work2, filepath.Join(work2, "disk.raw"))
	if err != nil {
		t.Fatal(err)
	}
	if parts != parts2 {
		t.Errorf("two assemblies differ: %+v and %+v", parts, parts2)
	}
}

func TestReadGPTDamaged(t *testing.T) {
	d := DiskLayout{Size: 4 << 20, Seed: "x"}
	t.Run("entries", func(t *testing.T) {
		disk := writeTable(t, d)
		disk[2*sectorSize+40] ^= 0xff
		if _, err := ReadGPT(bytesReaderAt(disk), int64(len(disk))); err == nil || !strings.Contains(err.Error(), "entry array CRC") {
			t.Errorf("damaged entries: %v", err)
		}
	})
	t.Run("header", func(t *testing.T) {
		disk := writeTable(t, d)
		disk[sectorSize+48] ^= 0xff
		if _, err := ReadGPT(bytesReaderAt(disk), int64(len(disk))); err == nil || !strings.Contains(err.Error(), "header CRC") {
			t.Errorf("damaged header: %v", err)
		}
	})
	t.Run("no table", func(t *testing.T) {
		disk := make([]byte, 1<<20)
		if _, err := ReadGPT(bytesReaderAt(disk), int64(len(disk))); err == nil || !strings.Contains(err.Error(), "signature") {
			t.Errorf("blank disk: %v", err)
		}
	})
	t.Run("truncated", func(t *testing.T) {
		disk := writeTable(t, d)[:4096]
		if _, err := ReadGPT(bytesReaderAt(disk), int64(len(disk))); err == nil {
			t.Error("a 4 KiB disk read as a GPT")
		}
	})
}

type bytesReaderAt []byte

func (b bytesReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

type memDisk []byte

func (m memDisk) WriteAt(p []byte, off int64) (int, error) { return copy(m[off:], p), nil }

func writeTable(t testing.TB, d DiskLayout) []byte {
	t.Helper()
	disk := make(memDisk, d.Size)
	table := GPT{DiskGUID: derivedGUID(d.Seed), Sectors: uint64(d.Size / sectorSize), Partitions: []Partition{
		{Type: TypeESP, GUID: derivedGUID(d.Seed, "p1"), FirstLBA: 2048, LastLBA: 4095, Name: "ESP"},
	}}
	if err := table.WriteTo(disk); err != nil {
		t.Fatal(err)
	}
	return disk
}

// FuzzReadGPT: any bytes give a table or an error, never a panic or a partition outside the disk.
func FuzzReadGPT(f *testing.F) {
	good := writeTable(f, DiskLayout{Size: 4 << 20, Seed: "x"})
	f.Add([]byte(good[:64<<10]))
	f.Add(make([]byte, 34*512))
	f.Fuzz(func(t *testing.T, disk []byte) {
		g, err := ReadGPT(bytesReaderAt(disk), int64(len(disk)))
		if err != nil {
			return
		}
		for _, p := range g.Partitions {
			if p.FirstLBA > p.LastLBA || p.LastLBA >= g.Sectors {
				t.Fatalf("partition %+v outside a disk of %d sectors", p, g.Sectors)
			}
		}
	})
}
