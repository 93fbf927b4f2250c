package vmimage

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ingot-build/ingot/internal/regtest"
	"github.com/ingot-build/ingot/pkg/pipeline"
	"github.com/ingot-build/ingot/pkg/spec"
	"github.com/ingot-build/ingot/pkg/store"
)

// hostMirrorEnv names the local partial mirror of examples/vm's packages that .ci/host-mirror.sh makes
// outside the tests (the tests reach nothing beyond this machine): an archive root with the suite's
// signed InRelease.
const hostMirrorEnv = "INGOT_HOST_MIRROR"

// ovmfCode is Debian's ovmf firmware, and the variable store it starts from.
const ovmfCode, ovmfVars = "/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd"

// TestBuildBoots builds examples/vm from the CI mirror, checks the disk's contents offline, boots it
// under qemu with software emulation and UEFI until the first-boot unit reports on the serial console
// and, meanwhile, builds it a second time from the same lock in another data directory: the disks
// must be the same.
func TestBuildBoots(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and boots a VM: minutes")
	}
	mirror := os.Getenv(hostMirrorEnv)
	if mirror == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set (CI is set, so .ci/run should have made the mirror with .ci/host-mirror.sh)", hostMirrorEnv)
		}
		t.Skipf("set %s to a mirror made by .ci/host-mirror.sh", hostMirrorEnv)
	}
	regtest.Root(t, "mmdebstrap's root mode")
	for _, tool := range []string{"mmdebstrap", "mkfs.ext4", "debugfs", "mkfs.vfat", "mcopy", "qemu-img", "qemu-system-x86_64"} {
		regtest.Peer(t, tool)
	}
	for _, f := range []string{ovmfCode, ovmfVars} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("ovmf: %v", err)
		}
	}
	s, err := spec.Load(filepath.Join("..", "..", "examples", "vm", "ingot.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s.Repositories = []spec.Repository{{URL: "file://" + mirror, Suite: "bookworm", Components: []string{"main"}, Keyring: "/usr/share/keyrings/debian-archive-keyring.gpg"}}
	s.SetDefaults()
	ctx := context.Background()
	data, data2 := t.TempDir(), t.TempDir()
	// The gate sees the finished tree and disk, and its verdict is recorded.
	var gated GateInput
	opt := Options{Pipeline: pipeline.Options{DataDir: data}, Gate: func(_ context.Context, in GateInput) (*GateResult, error) {
		gated = in
		return &GateResult{Passed: true, Summary: "test gate"}, nil
	}}
	l, err := pipeline.Lock(ctx, s, opt.Pipeline)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Build(ctx, s, l, opt)
	if err != nil {
		t.Fatal(err)
	}
	if gated.Spec != s || gated.Root == "" || gated.Raw == "" {
		t.Errorf("the gate was given %+v", gated)
	}
	if res.Gate == nil || !res.Gate.Passed || res.Gate.Summary != "test gate" {
		t.Errorf("gate result %+v not recorded", res.Gate)
	}
	st := store.Store{Root: data}
	if res.Dir != st.VMDir(s.Name, s.Tag()) {
		t.Errorf("disks in %s, want %s", res.Dir, st.VMDir(s.Name, s.Tag()))
	}
	recorded := readVMResult(t, filepath.Join(res.Dir, ResultFile))
	if recorded.Raw.Digest != res.Raw.Digest || recorded.Parts != res.Parts || recorded.Gate == nil || !recorded.Gate.Passed {
		t.Errorf("vm.json records %+v, the build returned %+v", recorded.Result, *res)
	}
	raw, qcow := filepath.Join(res.Dir, RawFile), filepath.Join(res.Dir, QCOW2File)
	if d, err := describe(raw); err != nil || d.Digest != res.Raw.Digest || d.Size != s.VM.DiskBytes() {
		t.Errorf("disk.raw is %+v (%v), want digest %s and %d bytes", d, err, res.Raw.Digest, s.VM.DiskBytes())
	}
	if _, err := os.Stat(filepath.Join(res.Evidence, ManifestFile)); err != nil {
		t.Errorf("no file manifest in the evidence: %v", err)
	}
	t.Logf("raw %s: %d MiB allocated; qcow2 %d MiB", res.Raw.Digest, res.Raw.Allocated>>20, res.QCOW2.Size>>20)

	// qemu-img reads the qcow2 as the same disk.
	if out, err := exec.Command("qemu-img", "compare", "-f", "raw", "-F", "qcow2", raw, qcow).CombinedOutput(); err != nil {
		t.Errorf("qemu-img compare raw qcow2: %v\n%s", err, out)
	}

	// Offline: the hardening is in the image and no identity is.
	rootAt := rootPartition(t, raw)
	for path, want := range map[string]string{
		"/etc/ssh/sshd_config.d/00-ingot.conf": "PermitRootLogin no\n",
		"/etc/sysctl.d/99-ingot.conf":          "kernel.kptr_restrict = 2\n",
		"/etc/hostname":                        "debian-vm\n",
	} {
		out, _ := exec.Command("debugfs", "-R", "cat "+path, rootAt).Output()
		if !strings.Contains(string(out), want) {
			t.Errorf("%s in the image = %q, want it to hold %q", path, out, want)
		}
	}
	if out, _ := exec.Command("debugfs", "-R", "stat /etc/machine-id", rootAt).Output(); !regexp.MustCompile(`Size: 0\b`).Match(out) {
		t.Errorf("/etc/machine-id is not empty in the image:\n%s", out)
	}
	if out, _ := exec.Command("debugfs", "-R", "ls /etc/ssh", rootAt).Output(); bytes.Contains(out, []byte("ssh_host_")) {
		t.Errorf("the image ships SSH host keys: %s", out)
	}
	if out, _ := exec.Command("debugfs", "-R", "stat /etc/systemd/system/debug-shell.service", rootAt).Output(); !bytes.Contains(out, []byte(`Fast link dest: "/dev/null"`)) {
		t.Errorf("debug-shell.service is not masked:\n%s", out)
	}

	// The second build runs while the first boots: on two cores that halves the test's time.
	type built struct {
		res *Result
		err error
	}
	second := make(chan built, 1)
	go func() {
		r, err := Build(ctx, s, l, Options{Pipeline: pipeline.Options{DataDir: data2}})
		second <- built{r, err}
	}()

	// Boot: OVMF, TCG, the serial console in a file, until the first-boot line (or 10 minutes).
	line := bootUntil(t, qcow, FirstBootMarker, 10*time.Minute)
	m := regexp.MustCompile(`hostname=(\S+) machine-id=([0-9a-f]*) ssh-host-keys=(\d+)`).FindStringSubmatch(line)
	if m == nil {
		t.Errorf("first-boot line %q", line)
	} else {
		if m[1] != "debian-vm" {
			t.Errorf("booted hostname %q, want debian-vm", m[1])
		}
		if len(m[2]) != 32 {
			t.Errorf("booted machine-id %q: systemd did not give the machine its own", m[2])
		}
		if n, _ := strconv.Atoi(m[3]); n < 3 {
			t.Errorf("%d SSH host keys generated at first boot, want at least 3", n)
		}
	}

	// The same lock gives the same disks, byte for byte; when it does not, the parts and files that
	// differ are named.
	b := <-second
	if b.err != nil {
		t.Fatalf("second build: %v", b.err)
	}
	res2 := b.res
	if res.Raw.Digest == res2.Raw.Digest && res.QCOW2.Digest == res2.QCOW2.Digest {
		t.Logf("two builds gave the same disks: raw %s, qcow2 %s", res.Raw.Digest, res.QCOW2.Digest)
		return
	}
	t.Errorf("two builds differ: raw %s and %s, qcow2 %s and %s", res.Raw.Digest, res2.Raw.Digest, res.QCOW2.Digest, res2.QCOW2.Digest)
	for _, p := range []struct{ name, a, b string }{
		{"partition table", res.Parts.Table, res2.Parts.Table}, {"ESP", res.Parts.ESP, res2.Parts.ESP}, {"root", res.Parts.Root, res2.Parts.Root},
	} {
		if p.a != p.b {
			t.Errorf("the %s differs: %s and %s", p.name, p.a, p.b)
		}
	}
	diff := DiffManifests(readManifest(t, res.Evidence), readManifest(t, res2.Evidence))
	t.Errorf("files that differ (%d): %s", len(diff), strings.Join(diff, " "))
}

type vmResult struct {
	Result
}

func readVMResult(t *testing.T, p string) vmResult {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var r vmResult
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func readManifest(t *testing.T, dir string) []ManifestEntry {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	var m []ManifestEntry
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// rootPartition names the root file system of a raw disk for e2fsprogs (FILE?offset=N).
func rootPartition(t *testing.T, raw string) string {
	t.Helper()
	f, err := os.Open(raw)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	g, err := ReadGPT(f, fi.Size())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range g.Partitions {
		if p.Type == TypeRootX864 {
			return raw + "?offset=" + strconv.FormatInt(p.Offset(), 10)
		}
	}
	t.Fatal("no root partition")
	return ""
}

// bootUntil boots the disk (a throwaway snapshot of it) and returns the first serial console line
// holding marker, failing with the console's tail after timeout.
func bootUntil(t *testing.T, disk, marker string, timeout time.Duration) string {
	t.Helper()
	tmp := t.TempDir()
	vars := filepath.Join(tmp, "vars.fd")
	data, err := os.ReadFile(ovmfVars)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(vars, data, 0o644); err != nil {
		t.Fatal(err)
	}
	serial := filepath.Join(tmp, "serial.log")
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64",
		"-machine", "q35,accel=tcg", "-m", "1024", "-smp", "1",
		"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+ovmfCode,
		"-drive", "if=pflash,format=raw,unit=1,file="+vars,
		"-drive", "file="+disk+",format=qcow2,if=virtio,snapshot=on",
		"-display", "none", "-monitor", "none", "-nic", "none", "-no-reboot",
		"-serial", "file:"+serial)
	var qerr bytes.Buffer
	cmd.Stderr = &qerr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
		if err := <-done; err != nil {
			t.Logf("qemu, killed: %v", err)
		}
	}()
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	start := time.Now()
	for {
		select {
		case err := <-done:
			done <- err
			out, _ := os.ReadFile(serial)
			t.Fatalf("qemu exited before %q: %v\n%s\nconsole:\n%s", marker, err, qerr.String(), lastLines(string(out), 60))
		case <-ctx.Done():
			out, _ := os.ReadFile(serial)
			t.Fatalf("no %q on the console after %s; console:\n%s", marker, timeout, lastLines(string(out), 60))
		case <-tick.C:
			out, _ := os.ReadFile(serial)
			for _, l := range strings.Split(string(out), "\n") {
				if i := strings.Index(l, marker); i >= 0 {
					t.Logf("booted to the first-boot unit in %s", time.Since(start).Round(time.Second))
					return strings.TrimSpace(l[i:])
				}
			}
		}
	}
}
