package disk

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/ingot-build/ingot/pkg/fault"
)

// fuzzDiskSize is the size of the sparse file a fuzz input heads: large enough for go-diskfs to
// accept an ext4 file system in it, free on disk.
const fuzzDiskSize = 20 << 20

// FuzzOpen feeds the disk reader hostile images: whatever the partition table and file system
// say, Open and Walk return (an error of kind Invalid, or entries), never panic or hang. The seed
// corpus under testdata/fuzz holds the first 16 KiB of a GPT disk and of a bare ext4 file system as
// mke2fs and go-diskfs make them (the tests' fixtures); the MBR and qcow2 seeds are added here.
func FuzzOpen(f *testing.F) {
	f.Add([]byte("QFI\xfb\x00\x00\x00\x03"))
	mbr := make([]byte, 512)
	mbr[446+4], mbr[446+8], mbr[446+12] = 0x83, 0x01, 0xff // one Linux partition
	mbr[510], mbr[511] = 0x55, 0xaa
	f.Add(mbr)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<20 {
			return
		}
		name := filepath.Join(t.TempDir(), "disk.raw")
		fh, err := os.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		_, err = fh.Write(data)
		if err == nil {
			err = fh.Truncate(fuzzDiskSize)
		}
		if cerr := fh.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatal(err)
		}
		// No qemu-img: qcow2 inputs stop at the lookup, so the target exercises the raw readers.
		img, err := Open(context.Background(), name, Options{QemuImg: filepath.Join(t.TempDir(), "none")})
		if err != nil {
			if !errors.Is(err, fault.Invalid) {
				t.Fatalf("Open: %v is not an invalid-input error", err)
			}
			return
		}
		defer func() { _ = img.Close() }()
		n := 0
		err = img.Walk(context.Background(), func(h *tar.Header, r io.Reader) error {
			n++
			if n > 10000 {
				return errors.New("too many entries")
			}
			if r != nil {
				_, err := io.Copy(io.Discard, io.LimitReader(r, 1<<20))
				return err
			}
			return nil
		})
		if err != nil && !errors.Is(err, fault.Invalid) && err.Error() != "too many entries" {
			t.Fatalf("Walk: %v is not an invalid-input error", err)
		}
	})
}
