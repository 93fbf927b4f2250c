package host

import (
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ingot-build/ingot/internal/regtest"
	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/fault"
	"github.com/ingot-build/ingot/pkg/sbom"
)

// TestSymlinksStayInside: links resolve against the target, never this machine; loops and escapes
// fail the audit with errors that name the path.
func TestSymlinksStayInside(t *testing.T) {
	t.Run("absolute link resolves inside the target", func(t *testing.T) {
		// /srv/sshd_config exists only inside the tree; on this machine the path is absent or another file.
		tr := goodTree().with(tree{
			"etc/ssh/sshd_config": symlink("/srv/sshd_config"),
			"srv/sshd_config":     reg("PermitRootLogin yes\n", 0o644),
		})
		for _, target := range []string{tr.directory(t), tr.tarball(t)} {
			f := byID(audit(t, target, Options{}))[RuleSSHRootLogin]
			if f.Status != evidence.StatusFailed || f.Locations[0].Path != "/srv/sshd_config" {
				t.Errorf("%s: %s at %v, want failed at /srv/sshd_config", target, f.Status, f.Locations)
			}
		}
	})
	for _, c := range []struct {
		name   string
		change tree
		want   error
		says   string
	}{
		{"loop", tree{"etc/ssh/sshd_config": symlink("sshd_config.real"), "etc/ssh/sshd_config.real": symlink("/etc/ssh/sshd_config")}, ErrSymlinkLoop, "/etc/ssh/sshd_config"},
		{"escape", tree{"etc/sysctl.d/99-host.conf": symlink("../../../../etc/sysctl.conf")}, ErrSymlinkEscape, "/etc/sysctl.d/99-host.conf"},
		{"escape through a directory link", tree{"etc/ssh/sshd_config.d": symlink("../../../outside")}, ErrSymlinkEscape, "/etc/ssh/sshd_config.d"},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, target := range []string{goodTree().with(c.change).directory(t), goodTree().with(c.change).tarball(t)} {
				tr, err := Open(context.Background(), target, OpenOptions{})
				if err != nil {
					t.Fatal(err)
				}
				_, err = Audit(context.Background(), tr, Options{})
				_ = tr.Close()
				if !errors.Is(err, c.want) || !errors.Is(err, fault.Invalid) || !strings.Contains(err.Error(), c.says) {
					t.Errorf("%v, want %v naming %s", err, c.want, c.says)
				}
			}
		})
	}
}

// TestTargetThroughALink: a target path that is itself a link to the tree is followed (it is the
// user's own path); links inside the tree are not.
func TestTargetThroughALink(t *testing.T) {
	dir := goodTree().with(tree{"root/.bash_history": reg("ls\n", 0o600)}).directory(t)
	link := filepath.Join(t.TempDir(), "rootfs")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	if f := byID(audit(t, link, Options{}))[RuleHistories]; f.Status != evidence.StatusFailed {
		t.Errorf("through a link to the tree: %s %s, want failed", f.ID, f.Status)
	}
}

func TestBadTargets(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(text, []byte("not a root file system\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{text, empty, filepath.Join(dir, "missing")} {
		_, err := Open(context.Background(), target, OpenOptions{})
		if !errors.Is(err, ErrTarget) || !errors.Is(err, fault.Invalid) {
			t.Errorf("%s: %v, want ErrTarget", filepath.Base(target), err)
		}
	}
}

// TestTargetsAgree: a directory, a gzip tarball, a raw GPT disk and a qcow2 disk of one tree give the
// same findings.
func TestTargetsAgree(t *testing.T) {
	regtest.Root(t, "making a disk whose files are owned by root")
	tr := goodTree().with(tree{
		"etc/ssh/sshd_config.d/10-x.conf": reg("PermitRootLogin yes\n", 0o644),
		"root/.bash_history":              reg("ls\n", 0o600),
		"etc/shadow":                      file{data: "root:*:19000::::::\n", mode: 0o644, gid: 42},
	})
	dir := tr.directory(t)
	tgz := filepath.Join(t.TempDir(), "root.tar.gz")
	gzipFile(t, tr.tarball(t), tgz)
	raw := filepath.Join(t.TempDir(), "disk.raw")
	ext4 := filepath.Join(t.TempDir(), "root.ext4")
	run(t, regtest.Peer(t, "mke2fs"), "-q", "-F", "-t", "ext4", "-d", dir, ext4, "16M")
	// sfdisk lays out a GPT disk in a plain file; the file system is copied into the partition.
	if err := os.WriteFile(raw, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(raw, 20<<20); err != nil {
		t.Fatal(err)
	}
	sfdisk := exec.Command(regtest.Peer(t, "sfdisk"), "-q", raw)
	sfdisk.Stdin = strings.NewReader("label: gpt\nstart=2048, size=32768, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\n")
	if out, err := sfdisk.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v\n%s", err, out)
	}
	run(t, "dd", "if="+ext4, "of="+raw, "bs=512", "seek=2048", "conv=notrunc", "status=none")
	qcow := filepath.Join(t.TempDir(), "disk.qcow2")
	run(t, regtest.Peer(t, "qemu-img"), "convert", "-f", "raw", "-O", "qcow2", raw, qcow)

	want := summary(audit(t, dir, Options{}))
	for _, target := range []string{tgz, raw, qcow} {
		if got := summary(audit(t, target, Options{})); !slices.Equal(got, want) {
			t.Errorf("%s:\n%s\nwant (directory):\n%s", filepath.Base(target), strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	if !slices.Contains(want, RuleSSHRootLogin+" failed") || !slices.Contains(want, RuleAccountFilePerms+" failed") || !slices.Contains(want, RuleHistories+" failed") {
		t.Errorf("the planted weaknesses are not all found:\n%s", strings.Join(want, "\n"))
	}
}

func summary(fs []evidence.Finding) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.ID + " " + f.Status
	}
	return out
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", name, err, out)
	}
}

func gzipFile(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(out)
	if _, err := io.Copy(zw, in); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestImageFeedsTheStages: the tree presented as an image gives the inventory its packages, the
// same on every read.
func TestImageFeedsTheStages(t *testing.T) {
	tr, err := Open(context.Background(), goodTree().tarball(t), OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tr.Close() }()
	img := tr.Image()
	inv, err := sbom.Inventory(context.Background(), img, sbom.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range inv.Packages {
		names = append(names, p.Name+" "+p.Version)
	}
	for _, want := range []string{"auditd 1:3.0.9-1", "node-agent 1.4.2-1"} {
		if !slices.Contains(names, want) {
			t.Errorf("inventory %v lacks %s", names, want)
		}
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	diffID, _ := layers[0].DiffID()
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	h := sha256sum(t, rc)
	if h != diffID.String() {
		t.Errorf("the layer streams %s, its diff ID says %s", h, diffID)
	}
}
