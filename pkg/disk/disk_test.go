package disk

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/partition/gpt"

	"github.com/ingot-build/ingot/internal/regtest"
	"github.com/ingot-build/ingot/pkg/fault"
)

// fsSize is the fixture file systems' size: small, and above go-diskfs' ext4 minimum.
const fsSize = 16 << 20

// makeExt4 makes an ext4 file system image of dir with Debian's mke2fs (-d copies the tree, as the
// image builders do), without root or a loop device.
func makeExt4(t testing.TB, dir string) string {
	t.Helper()
	mke2fs := regtest.Peer(t, "mke2fs")
	img := filepath.Join(t.TempDir(), "root.ext4")
	out, err := exec.Command(mke2fs, "-q", "-F", "-t", "ext4", "-L", "root", "-d", dir, img, "16M").CombinedOutput()
	if err != nil {
		t.Fatalf("mke2fs: %v\n%s", err, out)
	}
	return img
}

// makeGPT puts a file system image into the second partition of a GPT disk (the first is a small
// EFI-like partition holding no ext4), as cloud images are laid out.
func makeGPT(t testing.TB, fsImage string) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "disk.raw")
	const sector = 512
	size := int64(fsSize + 8<<20)
	d, err := diskfs.Create(name, size, diskfs.SectorSizeDefault)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = d.Close() }()
	table := &gpt.Table{LogicalSectorSize: sector, PhysicalSectorSize: sector, ProtectiveMBR: true, Partitions: []*gpt.Partition{
		{Index: 1, Start: 2048, End: 2048 + 2048 - 1, Type: gpt.EFISystemPartition, Name: "efi"},
		{Index: 2, Start: 4096, End: 4096 + fsSize/sector - 1, Type: gpt.LinuxFilesystem, Name: "root"},
	}}
	if err := d.Partition(table); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(fsImage)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := d.WritePartitionContents(2, f); err != nil {
		t.Fatal(err)
	}
	return name
}

func fixtureDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for p, data := range map[string]string{
		"etc/os-release":      "ID=debian\nVERSION_ID=\"12\"\n",
		"etc/ssh/sshd_config": "PermitRootLogin yes\n",
		"usr/bin/tool":        strings.Repeat("x", 70000),
	} {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(dir, "usr/bin/tool"), 0o755|os.ModeSetuid); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../usr/bin/tool", filepath.Join(dir, "etc/tool")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// walkAll lists a disk's entries by name, with the content of regular files.
func walkAll(t *testing.T, img *Image) map[string]*tar.Header {
	t.Helper()
	out := map[string]*tar.Header{}
	err := img.Walk(context.Background(), func(h *tar.Header, r io.Reader) error {
		if r != nil {
			data, err := io.ReadAll(r)
			if err != nil {
				return err
			}
			if int64(len(data)) != h.Size {
				t.Errorf("%s: read %d bytes, header says %d", h.Name, len(data), h.Size)
			}
			h.PAXRecords = map[string]string{"data": string(data)}
		}
		out[h.Name] = h
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestOpenGPTAndBareExt4(t *testing.T) {
	fsImg := makeExt4(t, fixtureDir(t))
	for _, c := range []struct {
		name, path string
		part       int
	}{
		{"gpt", makeGPT(t, fsImg), 2},
		{"bare ext4", fsImg, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			img, err := Open(context.Background(), c.path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = img.Close() }()
			if img.Format != Raw || img.Partition != c.part {
				t.Errorf("format %s partition %d, want raw %d", img.Format, img.Partition, c.part)
			}
			got := walkAll(t, img)
			if h := got["etc/ssh/sshd_config"]; h == nil || h.PAXRecords["data"] != "PermitRootLogin yes\n" {
				t.Errorf("sshd_config: %+v", h)
			}
			if h := got["usr/bin/tool"]; h == nil || h.Mode != 0o4755 || h.Size != 70000 || h.PAXRecords["data"] != strings.Repeat("x", 70000) {
				t.Errorf("setuid tool: %v", h != nil && h.PAXRecords["data"] != "")
				if h != nil {
					t.Errorf("mode %o size %d", h.Mode, h.Size)
				}
			}
			if h := got["etc/tool"]; h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "../usr/bin/tool" {
				t.Errorf("symlink: %+v", h)
			}
			if h := got["etc"]; h == nil || h.Typeflag != tar.TypeDir {
				t.Errorf("etc: %+v", h)
			}
		})
	}
}

func TestQCOW2(t *testing.T) {
	qemuImg := regtest.Peer(t, "qemu-img")
	raw := makeGPT(t, makeExt4(t, fixtureDir(t)))
	qcow := filepath.Join(t.TempDir(), "disk.qcow2")
	if out, err := exec.Command(qemuImg, "convert", "-f", "raw", "-O", "qcow2", raw, qcow).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img: %v\n%s", err, out)
	}
	tmp := t.TempDir()
	img, err := Open(context.Background(), qcow, Options{TempDir: tmp})
	if err != nil {
		t.Fatal(err)
	}
	if img.Format != QCOW2 {
		t.Errorf("format %s", img.Format)
	}
	if got := walkAll(t, img)["etc/ssh/sshd_config"]; got == nil {
		t.Error("no sshd_config in the qcow2 image")
	}
	if err := img.Close(); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("Close left %d temporary file(s)", len(left))
	}

	t.Run("truncated", func(t *testing.T) {
		data, err := os.ReadFile(qcow)
		if err != nil {
			t.Fatal(err)
		}
		cut := filepath.Join(t.TempDir(), "cut.qcow2")
		if err := os.WriteFile(cut, data[:len(data)/3], 0o644); err != nil {
			t.Fatal(err)
		}
		_, err = Open(context.Background(), cut, Options{TempDir: tmp})
		if !errors.Is(err, ErrCorrupt) || !errors.Is(err, fault.Invalid) || !strings.Contains(err.Error(), "qemu-img") {
			t.Errorf("truncated qcow2: %v, want ErrCorrupt with qemu-img's reason", err)
		}
		if left, _ := os.ReadDir(tmp); len(left) != 0 {
			t.Errorf("a failed conversion left %d temporary file(s)", len(left))
		}
	})
	t.Run("no qemu-img", func(t *testing.T) {
		_, err := Open(context.Background(), qcow, Options{QemuImg: filepath.Join(t.TempDir(), "qemu-img")})
		if !errors.Is(err, ErrNoQemuImg) || !strings.Contains(err.Error(), "qemu-utils") {
			t.Errorf("without qemu-img: %v, want ErrNoQemuImg naming the package", err)
		}
	})
}

// TestDamagedDisks: damage gives an error of kind Invalid that says what is wrong, never a panic.
func TestDamagedDisks(t *testing.T) {
	fsImg := makeExt4(t, fixtureDir(t))
	good, err := os.ReadFile(makeGPT(t, fsImg))
	if err != nil {
		t.Fatal(err)
	}
	write := func(t *testing.T, data []byte) string {
		name := filepath.Join(t.TempDir(), "disk.raw")
		if err := os.WriteFile(name, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return name
	}
	for _, c := range []struct {
		name   string
		damage func([]byte) []byte
		want   error
		says   string
	}{
		{"both GPT headers destroyed", func(b []byte) []byte {
			copy(b[512:1024], make([]byte, 512))
			copy(b[len(b)-512:], make([]byte, 512))
			return b
		}, ErrNoRoot, "partition 1"},
		{"root file system's superblock destroyed", func(b []byte) []byte {
			start := 4096 * 512
			copy(b[start+1024:start+2048], make([]byte, 1024))
			return b
		}, ErrNoRoot, "partition 2"},
		{"truncated", func(b []byte) []byte { return b[:len(b)/2] }, ErrNoRoot, ""},
		{"MBR only, no file system", func(b []byte) []byte {
			out := make([]byte, 1<<20)
			out[510], out[511] = 0x55, 0xaa
			return out
		}, nil, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			data := c.damage(append([]byte(nil), good...))
			img, err := Open(context.Background(), write(t, data), Options{})
			if err == nil {
				// Damage past what Open reads must show when walking.
				err = img.Walk(context.Background(), func(*tar.Header, io.Reader) error { return nil })
				_ = img.Close()
			}
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, fault.Invalid) {
				t.Errorf("%v: not an invalid-input error", err)
			}
			if c.want != nil && !errors.Is(err, c.want) && !errors.Is(err, ErrCorrupt) {
				t.Errorf("%v, want %v", err, c.want)
			}
			if !strings.Contains(err.Error(), "disk.raw") {
				t.Errorf("%v does not name the file", err)
			}
			if c.says != "" && !strings.Contains(err.Error(), c.says) {
				t.Errorf("%v does not say %q", err, c.says)
			}
		})
	}
}

func TestDetect(t *testing.T) {
	for _, c := range []struct {
		name string
		head []byte
		want Format
		ok   bool
	}{
		{"qcow2", []byte("QFI\xfb\x00\x00\x00\x03"), QCOW2, true},
		{"text", []byte("hello\n"), "", false},
		{"empty", nil, "", false},
	} {
		f, ok := Detect(strings.NewReader(string(c.head)))
		if f != c.want || ok != c.ok {
			t.Errorf("%s: %q %v, want %q %v", c.name, f, ok, c.want, c.ok)
		}
	}
}
