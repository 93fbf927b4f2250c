package vmrecord_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/ingot-build/ingot/pkg/catalog"
	"github.com/ingot-build/ingot/pkg/catalog/sqlite"
	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/fault"
	"github.com/ingot-build/ingot/pkg/vmrecord"
)

var built = time.Date(2026, 11, 2, 9, 30, 0, 0, time.UTC)

// disks writes a small raw disk (an MBR partition table and a marker in its one partition) and its
// qcow2: made by qemu-img when it is installed, else a qcow2 v3 header written here by the
// specification (enough for Record, which hashes files and checks their headers).
func disks(t *testing.T, marker string) (raw, qcow2 string) {
	t.Helper()
	dir := t.TempDir()
	raw, qcow2 = filepath.Join(dir, "disk.raw"), filepath.Join(dir, "disk.qcow2")
	img := make([]byte, 1<<20)
	entry := img[446:462]
	entry[4] = 0x83                                 // a Linux partition
	binary.LittleEndian.PutUint32(entry[8:], 8)     // from sector 8
	binary.LittleEndian.PutUint32(entry[12:], 2040) // to the end of the 1 MiB image
	img[510], img[511] = 0x55, 0xaa
	copy(img[4096:], marker)
	if err := os.WriteFile(raw, img, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("qemu-img"); err == nil {
		if out, err := exec.CommandContext(t.Context(), "qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, qcow2).CombinedOutput(); err != nil {
			t.Fatalf("qemu-img: %v\n%s", err, out)
		}
		return raw, qcow2
	}
	var h bytes.Buffer
	for _, v := range []any{[]byte("QFI\xfb"), uint32(3), uint64(0), uint32(0), uint32(16), uint64(len(img))} {
		_ = binary.Write(&h, binary.BigEndian, v)
	}
	h.Write(make([]byte, 512-h.Len()))
	if err := os.WriteFile(qcow2, h.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return raw, qcow2
}

func sha(t *testing.T, path string) (string, int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:]), int64(len(b))
}

func set() *evidence.Set {
	return &evidence.Set{
		Inventory: &evidence.Inventory{Image: evidence.Image{OS: "linux", Arch: "amd64"},
			Distro: &evidence.Distro{ID: "debian", VersionID: "12"},
			Packages: []evidence.Package{{Name: "openssh-server", Version: "1:9.2p1-2+deb12u3", Type: evidence.TypeDeb,
				Arch: "amd64", Ecosystem: "Debian:12", PURL: "pkg:deb/debian/openssh-server@1:9.2p1-2+deb12u3?arch=amd64&distro=debian-12"}}},
		Secrets: evidence.Report{Tool: "ingot secrets", Findings: []evidence.Finding{}},
		Lint:    evidence.Report{Tool: "ingot host audit", Findings: []evidence.Finding{}},
	}
}

func open(t *testing.T) catalog.Catalog {
	t.Helper()
	c, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestRecord(t *testing.T) {
	ctx := t.Context()
	c := open(t)
	raw, qcow2 := disks(t, "first build")
	rawDigest, rawSize := sha(t, raw)
	qDigest, qSize := sha(t, qcow2)
	in := vmrecord.Input{Image: "base-vm", Line: "12.8", Arch: "amd64", Evidence: set(), Reason: "ingot host build",
		Spec: []byte("name: base-vm\n"), Lock: []byte("lock\n"), Built: built, Actor: "ci",
		Disks: []vmrecord.DiskFile{{Path: raw, Format: catalog.DiskRaw, Digest: rawDigest}, {Path: qcow2, Format: catalog.DiskQCOW2}}}
	v, err := vmrecord.Record(ctx, c, in)
	if err != nil {
		t.Fatal(err)
	}
	if v.Kind != catalog.KindVM || v.Digest != rawDigest || v.State != catalog.StatePublished || v.Tag() != "12.8-r1" {
		t.Errorf("recorded %s kind %s digest %s state %s, want vm 12.8-r1 named by the raw disk %s", v.Ref(), v.Kind, v.Digest, v.State, rawDigest)
	}
	wantDisks := []catalog.Disk{{Format: catalog.DiskQCOW2, Digest: qDigest, Size: qSize}, {Format: catalog.DiskRaw, Digest: rawDigest, Size: rawSize}}
	if !reflect.DeepEqual(v.Disks, wantDisks) {
		t.Errorf("disks %+v, want %+v", v.Disks, wantDisks)
	}
	wantLocs := []catalog.Location{{Kind: catalog.LocationDisk, Ref: raw}, {Kind: catalog.LocationDisk, Ref: qcow2}}
	if !reflect.DeepEqual(v.Locations, wantLocs) {
		t.Errorf("locations %+v, want %+v", v.Locations, wantLocs)
	}
	if len(v.Platforms) != 1 || v.Platforms[0].Evidence == nil || len(v.Platforms[0].Evidence.Inventory.Packages) != 1 {
		t.Errorf("platforms %+v, want linux/amd64 with the evidence", v.Platforms)
	}
	// The catalog's queries see the VM's packages like a container's.
	exp, err := c.QueryPackage(ctx, catalog.PackageQuery{Name: "openssh-server"})
	if err != nil || len(exp) != 1 || exp[0].Image != "base-vm" {
		t.Errorf("QueryPackage openssh-server: %+v %v", exp, err)
	}

	// The same disk again is the same version; a changed disk is the next one.
	again, err := vmrecord.Record(ctx, c, in)
	if err != nil || again.ID != v.ID {
		t.Errorf("recording the same disk again: %v %v, want version %d", again, err, v.ID)
	}
	raw2, qcow22 := disks(t, "second build")
	in.Disks = []vmrecord.DiskFile{{Path: raw2, Format: catalog.DiskRaw}, {Path: qcow22, Format: catalog.DiskQCOW2}}
	in.Built = built.Add(time.Hour)
	next, err := vmrecord.Record(ctx, c, in)
	if err != nil || next.Tag() != "12.8-r2" {
		t.Fatalf("a changed disk: %v %v, want 12.8-r2", next, err)
	}
}

func TestRecordRefuses(t *testing.T) {
	raw, qcow2 := disks(t, "x")
	empty := filepath.Join(t.TempDir(), "empty.raw")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	base := func() vmrecord.Input {
		return vmrecord.Input{Image: "base-vm", Line: "12", Arch: "amd64", Evidence: set(), Built: built,
			Disks: []vmrecord.DiskFile{{Path: raw, Format: catalog.DiskRaw}, {Path: qcow2, Format: catalog.DiskQCOW2}}}
	}
	for _, tc := range []struct {
		name   string
		mutate func(in *vmrecord.Input)
		kind   fault.Kind
	}{
		{"no raw disk", func(in *vmrecord.Input) { in.Disks = in.Disks[1:] }, fault.Invalid},
		{"qcow2 given as raw", func(in *vmrecord.Input) { in.Disks[0].Path = qcow2 }, fault.Invalid},
		{"raw given as qcow2", func(in *vmrecord.Input) { in.Disks[1].Path = raw }, fault.Invalid},
		{"missing file", func(in *vmrecord.Input) { in.Disks[0].Path = raw + ".gone" }, fault.Invalid},
		{"empty file", func(in *vmrecord.Input) { in.Disks[0].Path = empty }, fault.Invalid},
		{"unknown format", func(in *vmrecord.Input) { in.Disks[1].Format = "vmdk" }, fault.Invalid},
		{"no evidence", func(in *vmrecord.Input) { in.Evidence = nil }, fault.Invalid},
		{"digest mismatch", func(in *vmrecord.Input) { in.Disks[0].Digest = "sha256:" + hex.EncodeToString(make([]byte, 32)) }, fault.Integrity},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := open(t)
			in := base()
			tc.mutate(&in)
			_, err := vmrecord.Record(t.Context(), c, in)
			if err == nil || fault.Of(err) != tc.kind {
				t.Fatalf("Record: %v, want a %v error", err, tc.kind)
			}
			if tc.kind == fault.Integrity && !errors.Is(err, vmrecord.ErrDigest) {
				t.Errorf("Record: %v, want ErrDigest", err)
			}
			vs, err := c.List(t.Context(), catalog.ListOptions{Pending: true})
			if err != nil || len(vs) != 0 {
				t.Errorf("a refused disk left versions: %v %v", vs, err)
			}
		})
	}
}
