package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/ingot-build/ingot/bench/internal/release"
	"github.com/ingot-build/ingot/pkg/lock"
	"github.com/ingot-build/ingot/pkg/spec"
	"github.com/ingot-build/ingot/pkg/store"
	"github.com/ingot-build/ingot/pkg/vmimage"
)

// runBuild times ingot host build of the VM spec against the same pinned package set installed by
// plain mmdebstrap and made a disk by hand (sfdisk, mkfs.vfat, mtools, mkfs.ext4 -d, dd, qemu-img),
// both from the same local mirror, and prints both times and disk sizes. Setup (the mirror, ingot's
// binary, the lock) is untimed and the only step using the network.
func runBuild(ctx context.Context, cfg config, stdout, stderr io.Writer) error {
	if os.Geteuid() != 0 {
		return errors.New("mmdebstrap's root mode needs root: run as root")
	}
	for _, tool := range []string{"go", "mmdebstrap", "sfdisk", "mkfs.vfat", "mcopy", "mkfs.ext4", "qemu-img"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is needed: %w", tool, err)
		}
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	if cfg.spec == "" {
		cfg.spec = filepath.Join(root, "examples", "vm")
	}
	if fi, err := os.Stat(cfg.spec); err == nil && fi.IsDir() {
		cfg.spec = filepath.Join(cfg.spec, "ingot.yaml")
	}
	b := &buildBench{cfg: cfg, ingot: filepath.Join(cfg.work, "ingot")}
	if err := os.MkdirAll(cfg.work, 0o755); err != nil {
		return err
	}
	fmt.Fprintln(stderr, "setup: building ingot")
	if err := release.Build(ctx, root, b.ingot, "github.com/ingot-build/ingot/cmd/ingot"); err != nil {
		return err
	}
	if err := b.setup(ctx, stderr); err != nil {
		return err
	}
	var ingotTimes, handTimes []time.Duration
	for i := range cfg.runs {
		fmt.Fprintf(stderr, "timed run %d/%d: ingot host build\n", i+1, cfg.runs)
		d, err := b.ingotBuild(ctx)
		if err != nil {
			return err
		}
		ingotTimes = append(ingotTimes, d)
		fmt.Fprintf(stderr, "timed run %d/%d: mmdebstrap and the disk by hand\n", i+1, cfg.runs)
		if d, err = b.byHand(ctx); err != nil {
			return err
		}
		handTimes = append(handTimes, d)
	}
	return b.report(stdout, ingotTimes, handTimes)
}

type buildBench struct {
	cfg    config
	ingot  string
	spec   *spec.Spec
	lock   *lock.Lock
	mirror string // the archive root of the one repository
	line   string // its sources.list line, as ingot host mirror printed it
}

func (b *buildBench) specDir() string { return filepath.Join(b.cfg.work, "spec") }
func (b *buildBench) data() string    { return filepath.Join(b.cfg.work, "ingot-data") }
func (b *buildBench) hand() string    { return filepath.Join(b.cfg.work, "by-hand") }

// setup locks the spec against the host's apt sources and writes its mirror (once; kept in -work),
// then writes the benchmark spec reading that mirror, and locks it.
func (b *buildBench) setup(ctx context.Context, log io.Writer) error {
	orig, err := spec.Load(b.cfg.spec)
	if err != nil {
		return err
	}
	if orig.VM == nil {
		return fmt.Errorf("%s has no vm section", b.cfg.spec)
	}
	hostDir, mirror := filepath.Join(b.cfg.work, "host-spec"), filepath.Join(b.cfg.work, "mirror")
	if _, err := os.Stat(filepath.Join(mirror, "done")); err != nil {
		fmt.Fprintln(log, "setup: locking the spec against the host's apt sources and writing its mirror")
		for _, p := range []string{hostDir, mirror} {
			if err := os.RemoveAll(p); err != nil {
				return err
			}
		}
		if err := writeSpec(hostDir, orig); err != nil {
			return err
		}
		setupData := filepath.Join(b.cfg.work, "setup-data")
		if _, err := output(ctx, b.ingot, "--quiet", "--data-dir", setupData, "lock", hostDir); err != nil {
			return err
		}
		if _, err := output(ctx, b.ingot, "--quiet", "--data-dir", setupData, "host", "mirror", hostDir, mirror); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(mirror, "done"), nil, 0o644); err != nil {
			return err
		}
	}
	if len(orig.Repositories) != 1 {
		return errors.New("the benchmark takes a spec with one repository")
	}
	b.mirror = filepath.Join(mirror, "0")
	keyring := orig.Repositories[0].Keyring
	if orig.Repositories[0].Host || keyring == "" {
		keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"
	}
	suite := orig.Repositories[0].Suite
	if orig.Repositories[0].Host {
		suite = orig.Repositories[0].Suites[0]
	}
	s := *orig
	s.Repositories = []spec.Repository{{URL: "file://" + b.mirror, Suite: suite, Components: []string{"main"}, Keyring: keyring}}
	b.spec = &s
	b.line = fmt.Sprintf("deb [arch=amd64 signed-by=%s] copy://%s %s main", keyring, b.mirror, suite)
	if err := os.RemoveAll(b.specDir()); err != nil {
		return err
	}
	if err := writeSpec(b.specDir(), &s); err != nil {
		return err
	}
	if _, err := output(ctx, b.ingot, "--quiet", "--data-dir", b.data(), "lock", b.specDir()); err != nil {
		return err
	}
	b.lock, err = lock.Read(filepath.Join(b.specDir(), "ingot.lock"))
	return err
}

func writeSpec(dir string, s *spec.Spec) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "ingot.yaml"), s.Canonical(), 0o644)
}

// ingotBuild is one ingot host build from a data directory without packages (the lock, with its
// InRelease kept, stays): fetching the .debs from the mirror is part of the time, as copying them is
// for apt.
func (b *buildBench) ingotBuild(ctx context.Context) (time.Duration, error) {
	st := store.Store{Root: b.data()}
	for _, p := range []string{st.Packages().Dir, st.VMRoot()} {
		if err := os.RemoveAll(p); err != nil {
			return 0, err
		}
	}
	start := time.Now()
	_, err := output(ctx, b.ingot, "--quiet", "--data-dir", b.data(), "host", "build", b.specDir())
	return time.Since(start), err
}

// handScript makes the disk as one would by hand: the same GPT layout with sfdisk, the ESP with
// mkfs.vfat and mtools, the root with mkfs.ext4 -d, both copied in with dd, then qemu-img. It writes
// the fstab and loader entry a boot needs, and none of ingot's hardening, cleanup or fixed ids.
const handScript = `set -eu
cd "$1"
uuid=$(cat /proc/sys/kernel/random/uuid)
printf 'UUID=%s / ext4 errors=remount-ro 0 1\n' "$uuid" > root/etc/fstab
echo debian-vm > root/etc/hostname
truncate -s "$2" disk.raw
printf 'label: gpt\nstart=2048, size=524288, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B\nstart=526336, type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709\n' | sfdisk -q disk.raw
rootsectors=$(sfdisk -d disk.raw | awk '/start= *526336/ { gsub(/[ ,]/, ""); split($0, f, "size="); split(f[2], g, "type"); print g[1] }')
mkfs.vfat -F 32 -C esp.img 262144 >/dev/null
mmd -i esp.img ::/EFI ::/EFI/BOOT ::/loader ::/loader/entries
mcopy -i esp.img root/usr/lib/systemd/boot/efi/systemd-bootx64.efi ::/EFI/BOOT/BOOTX64.EFI
mcopy -i esp.img root/boot/vmlinuz-* ::/vmlinuz
mcopy -i esp.img root/boot/initrd.img-* ::/initrd.img
printf 'default debian.conf\ntimeout 0\n' > loader.conf
printf 'title Debian\nlinux /vmlinuz\ninitrd /initrd.img\noptions root=UUID=%s ro console=ttyS0\n' "$uuid" > debian.conf
mcopy -i esp.img loader.conf ::/loader/loader.conf
mcopy -i esp.img debian.conf ::/loader/entries/debian.conf
mkfs.ext4 -q -F -U "$uuid" -d root root.img "$((rootsectors / 2))k"
dd if=esp.img of=disk.raw bs=1M seek=1 conv=notrunc,sparse status=none
dd if=root.img of=disk.raw bs=1M seek=$((526336 * 512)) oflag=seek_bytes conv=notrunc,sparse status=none
qemu-img convert -f raw -O qcow2 disk.raw disk.qcow2
`

// byHand installs the lock's exact package set with plain mmdebstrap from the same mirror, then runs
// handScript.
func (b *buildBench) byHand(ctx context.Context) (time.Duration, error) {
	if err := os.RemoveAll(b.hand()); err != nil {
		return 0, err
	}
	if err := os.MkdirAll(b.hand(), 0o755); err != nil {
		return 0, err
	}
	var include []string
	for _, p := range b.lock.Archs["amd64"].Packages {
		include = append(include, p.Name+"="+p.Version)
	}
	start := time.Now()
	if _, err := output(ctx, "mmdebstrap", "--mode=root", "--variant=custom", "--format=directory",
		"--architectures=amd64", "--include="+strings.Join(include, ","), "--quiet",
		"--aptopt=Acquire::Check-Valid-Until \"false\"", "--aptopt=Acquire::Languages \"none\"",
		b.lock.Repositories[0].Suite, filepath.Join(b.hand(), "root"), b.line); err != nil {
		return 0, err
	}
	if _, err := output(ctx, "bash", "-c", handScript, "bash", b.hand(), fmt.Sprint(b.spec.VM.DiskBytes())); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

type diskSize struct{ size, allocated int64 }

func sizeOf(p string) (diskSize, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return diskSize{}, err
	}
	st, _ := fi.Sys().(*syscall.Stat_t)
	return diskSize{fi.Size(), st.Blocks * 512}, nil
}

func (b *buildBench) report(w io.Writer, ingotTimes, handTimes []time.Duration) error {
	st := store.Store{Root: b.data()}
	dir := st.VMDir(b.spec.Name, b.spec.Tag())
	data, err := os.ReadFile(filepath.Join(dir, vmimage.ResultFile))
	if err != nil {
		return err
	}
	var res vmimage.Result
	if err := json.Unmarshal(data, &res); err != nil {
		return err
	}
	sizes := map[string]diskSize{}
	for name, p := range map[string]string{
		"ingot raw": filepath.Join(dir, vmimage.RawFile), "ingot qcow2": filepath.Join(dir, vmimage.QCOW2File),
		"hand raw": filepath.Join(b.hand(), "disk.raw"), "hand qcow2": filepath.Join(b.hand(), "disk.qcow2"),
	} {
		if sizes[name], err = sizeOf(p); err != nil {
			return err
		}
	}
	mib := func(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
	fmt.Fprintf(w, "VM image %s:%s, %d packages, disk %s, %d run(s) each (median)\n\n", b.spec.Name, b.spec.Tag(), len(b.lock.Archs["amd64"].Packages), b.spec.VM.DiskSize, len(ingotTimes))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\twall time\traw allocated\tqcow2")
	fmt.Fprintf(tw, "ingot host build\t%s\t%s\t%s\n", median(ingotTimes).Round(time.Second), mib(sizes["ingot raw"].allocated), mib(sizes["ingot qcow2"].size))
	fmt.Fprintf(tw, "mmdebstrap + disk by hand\t%s\t%s\t%s\n", median(handTimes).Round(time.Second), mib(sizes["hand raw"].allocated), mib(sizes["hand qcow2"].size))
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\ningot/by hand time ratio: %.2f\n", median(ingotTimes).Seconds()/median(handTimes).Seconds())
	fmt.Fprintf(w, "ingot's disk %s, root %s\n", res.Raw.Digest, res.Parts.Root)
	return nil
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// moduleRoot returns the directory of the go.mod the go tool sees from the current directory.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := output(ctx, "go", "env", "GOMOD")
	if err != nil {
		return "", err
	}
	gomod := strings.TrimSpace(out)
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the ingot module: run from its work tree (go run ./bench/host)")
	}
	return filepath.Dir(gomod), nil
}

// output runs a command and returns its stdout; a failure carries the command's stderr.
func output(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	// mmdebstrap mounts /proc and /sys in its chroot: let it unmount them when interrupted.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	if err := cmd.Run(); err != nil {
		lines := strings.Split(strings.TrimRight(se.String(), "\n"), "\n")
		if len(lines) > 40 {
			lines = lines[len(lines)-40:]
		}
		return so.String(), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, strings.Join(lines, "\n"))
	}
	return so.String(), nil
}
