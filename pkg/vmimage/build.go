package vmimage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ingot-build/ingot/internal/safefile"
	"github.com/ingot-build/ingot/pkg/apt"
	"github.com/ingot-build/ingot/pkg/fault"
	"github.com/ingot-build/ingot/pkg/lock"
	"github.com/ingot-build/ingot/pkg/pipeline"
	"github.com/ingot-build/ingot/pkg/spec"
)

var (
	// ErrNotVM means the spec has no vm section: it describes a container image (ingot build).
	ErrNotVM = fault.New(fault.Invalid, "vmimage: the spec has no vm section (build container images with ingot build)")
	// ErrGate means the audit gate refused the image: nothing was written to the VM directory. It
	// wraps pipeline.ErrEvidence, as a container image's failed evidence gate does.
	ErrGate = fmt.Errorf("vmimage: the audit gate refused the image: %w", pipeline.ErrEvidence)
)

// Files in the VM directory (<data>/vm/<name>/<tag>/) and its evidence directory.
const (
	RawFile      = "disk.raw"
	QCOW2File    = "disk.qcow2"
	ResultFile   = "vm.json"
	ManifestFile = "rootfs.json"
)

// Gate audits the built image before it is kept; the CLI passes ingot host audit. A non-nil error
// fails the build; a result that did not pass refuses the image (ErrGate).
type Gate func(ctx context.Context, in GateInput) (*GateResult, error)

// GateInput is what the gate audits: the finished root tree and the raw disk made from it.
type GateInput struct {
	Spec *spec.Spec
	Root string
	Raw  string
}

// GateResult is the gate's verdict, recorded with the disk digests.
type GateResult struct {
	Passed  bool            `json:"passed"`
	Summary string          `json:"summary"`
	Report  json.RawMessage `json:"report,omitempty"`
}

// Options are the machine-side settings of a VM build.
type Options struct {
	// Pipeline holds the data directory, the HTTP client, the apt sources behind host: true and the
	// epoch (SourceDateEpoch; default: the newest locked Release date).
	Pipeline pipeline.Options
	// Gate audits the image before it is kept; nil records that no audit ran.
	Gate Gate
	// Log receives one line per step; nil keeps quiet.
	Log io.Writer
}

func (o Options) logf(format string, args ...any) {
	if o.Log != nil {
		fmt.Fprintf(o.Log, format+"\n", args...)
	}
}

// Disk is one output file.
type Disk struct {
	Path   string `json:"path"`
	Digest string `json:"digest"`
	// Size is the file's length; Allocated what it takes on this disk (the raw file is sparse).
	Size      int64 `json:"size"`
	Allocated int64 `json:"allocated"`
}

// Result describes a built VM image; it is also written as vm.json into the VM directory and the
// evidence directory named by the raw disk's digest.
type Result struct {
	Name     string      `json:"name"`
	Tag      string      `json:"tag"`
	Epoch    time.Time   `json:"epoch"`
	Raw      Disk        `json:"raw"`
	QCOW2    Disk        `json:"qcow2"`
	Parts    Parts       `json:"parts"`
	RootUUID string      `json:"rootUUID"`
	Packages int         `json:"packages"`
	Gate     *GateResult `json:"gate"`
	// Manifest is the digest of rootfs.json, the list of the root file system's files: two builds
	// whose roots differ are compared by it (DiffManifests).
	Manifest string `json:"manifest"`
	// Dir is the VM directory, Evidence the evidence directory.
	Dir      string `json:"-"`
	Evidence string `json:"-"`
}

// Build makes the VM image the spec and lock describe, from the lock's packages only, and writes
// disk.raw, disk.qcow2 and vm.json into the store's VM directory for the spec's name and tag,
// replacing an earlier build of it. It runs as root (mmdebstrap's root mode).
func Build(ctx context.Context, s *spec.Spec, l *lock.Lock, opt Options) (*Result, error) {
	if s.VM == nil {
		return nil, ErrNotVM
	}
	if err := pipeline.Check(s, opt.Pipeline); err != nil {
		return nil, err
	}
	if err := l.Check(s); err != nil {
		return nil, err
	}
	if l.Archs["amd64"] == nil || len(l.Repositories) == 0 {
		return nil, fault.Errorf(fault.Invalid, "vmimage: the lock has no amd64 packages")
	}
	if os.Geteuid() != 0 {
		return nil, fault.Errorf(fault.Invalid, "vmimage: ingot host build runs mmdebstrap in root mode: run it as root")
	}
	sources, err := pipeline.Sources(s, opt.Pipeline)
	if err != nil {
		return nil, err
	}
	st := opt.Pipeline.Store()
	d := DiskLayout{Size: s.VM.DiskBytes(), Seed: s.Name + "\x00" + s.Tag(), Epoch: epochOf(l, opt.Pipeline)}

	if err := os.MkdirAll(st.VMRoot(), 0o755); err != nil {
		return nil, err
	}
	work, err := safefile.MkdirTemp(st.VMRoot(), "build-"+s.Name)
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(work) }()

	opt.logf("writing the local mirror of %d locked packages", len(l.Archs["amd64"].Packages))
	m, err := WriteMirror(ctx, l, st, sources, filepath.Join(work, "mirror"), apt.FetchOptions{HTTP: opt.Pipeline.HTTP, Progress: opt.Pipeline.Progress})
	if err != nil {
		return nil, err
	}
	root := filepath.Join(work, "root")
	opt.logf("installing with mmdebstrap")
	if err := bootstrap(ctx, d, l, m, root); err != nil {
		return nil, err
	}
	opt.logf("applying the hardening and the first-boot cleanup")
	if err := configure(s, l, d, root); err != nil {
		return nil, err
	}
	esp, err := espFiles(s, d, root, work)
	if err != nil {
		return nil, err
	}
	if _, err := clampTimes(root, d.Epoch); err != nil {
		return nil, err
	}
	man, err := manifest(root)
	if err != nil {
		return nil, err
	}
	manJSON, err := json.MarshalIndent(man, "", " ")
	if err != nil {
		return nil, err
	}
	out := filepath.Join(work, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		return nil, err
	}
	raw, qcow := filepath.Join(out, RawFile), filepath.Join(out, QCOW2File)
	opt.logf("assembling the disk")
	parts, err := Assemble(ctx, d, root, esp, work, raw)
	if err != nil {
		return nil, err
	}
	if err := toQCOW2(ctx, d, raw, qcow); err != nil {
		return nil, err
	}
	res := &Result{Name: s.Name, Tag: s.Tag(), Epoch: d.Epoch.UTC(), Parts: parts, RootUUID: strings.ToLower(d.RootUUID().String()),
		Packages: len(l.Archs["amd64"].Packages), Manifest: digest(manJSON)}
	if opt.Gate != nil {
		opt.logf("auditing")
		g, err := opt.Gate(ctx, GateInput{Spec: s, Root: root, Raw: raw})
		if err != nil {
			return nil, fmt.Errorf("audit gate: %w", err)
		}
		res.Gate = g
		if !g.Passed {
			return res, fmt.Errorf("%w: %s", ErrGate, g.Summary)
		}
	}
	for _, disk := range []struct {
		path string
		into *Disk
	}{{raw, &res.Raw}, {qcow, &res.QCOW2}} {
		if *disk.into, err = describe(disk.path); err != nil {
			return nil, err
		}
	}

	// Into place: the evidence first (named by the raw digest), then the disks replace the previous
	// build's in one rename.
	h, err := v1.NewHash(res.Raw.Digest)
	if err != nil {
		return nil, err
	}
	res.Dir = st.VMDir(s.Name, s.Tag())
	res.Evidence = st.EvidenceDir(s.Name, h)
	res.Raw.Path, res.QCOW2.Path = filepath.Join(res.Dir, RawFile), filepath.Join(res.Dir, QCOW2File)
	resJSON, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return nil, err
	}
	resJSON = append(resJSON, '\n')
	if err := os.MkdirAll(res.Evidence, 0o755); err != nil {
		return nil, err
	}
	for name, data := range map[string][]byte{ResultFile: resJSON, ManifestFile: manJSON} {
		if err := safefile.Write(filepath.Join(res.Evidence, name), data, 0o644); err != nil {
			return nil, fmt.Errorf("recording evidence: %w", err)
		}
	}
	if err := os.WriteFile(filepath.Join(out, ResultFile), resJSON, 0o644); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(res.Dir), 0o755); err != nil {
		return nil, err
	}
	old := filepath.Join(work, "previous")
	if err := os.Rename(res.Dir, old); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if err := os.Rename(out, res.Dir); err != nil {
		return nil, err
	}
	return res, nil
}

// epochOf is the time the image's timestamps are clamped to: the configured epoch, else the newest
// Release date of the lock, so that the same lock gives the same disk without configuration.
func epochOf(l *lock.Lock, o pipeline.Options) time.Time {
	if o.SourceDateEpoch != nil {
		return o.SourceDateEpoch.UTC()
	}
	var newest time.Time
	for _, r := range l.Repositories {
		if t, err := time.Parse("2006-01-02T15:04:05Z", r.Date); err == nil && t.After(newest) {
			newest = t
		}
	}
	if newest.IsZero() {
		newest = time.Unix(0, 0)
	}
	return newest.UTC()
}

// espFiles are systemd-boot as the removable-media loader, its configuration, and the kernel and
// initrd the kernel package's scripts left in /boot.
func espFiles(s *spec.Spec, d DiskLayout, root, work string) ([]ESPFile, error) {
	one := func(glob string) (string, error) {
		m, err := filepath.Glob(filepath.Join(root, glob))
		if err != nil {
			return "", err
		}
		if len(m) != 1 {
			return "", fmt.Errorf("vmimage: want exactly one /%s in the image, found %d (is %s installed?)", glob, len(m), s.VM.Kernel)
		}
		return m[0], nil
	}
	kernel, err := one("boot/vmlinuz-*")
	if err != nil {
		return nil, err
	}
	initrd, err := one("boot/initrd.img-*")
	if err != nil {
		return nil, err
	}
	loader := filepath.Join(root, "usr", "lib", "systemd", "boot", "efi", "systemd-bootx64.efi")
	if _, err := os.Stat(loader); err != nil {
		return nil, fmt.Errorf("vmimage: systemd-boot: %w", err)
	}
	args := append([]string{"root=UUID=" + strings.ToLower(d.RootUUID().String()), "ro", "console=ttyS0"}, s.VM.KernelArgs...)
	conf := filepath.Join(work, "esp-conf")
	if err := os.MkdirAll(conf, 0o755); err != nil {
		return nil, err
	}
	loaderConf, entry := filepath.Join(conf, "loader.conf"), filepath.Join(conf, "ingot.conf")
	for p, body := range map[string]string{
		loaderConf: "default ingot.conf\ntimeout 0\n",
		entry:      fmt.Sprintf("title %s %s\nlinux /vmlinuz\ninitrd /initrd.img\noptions %s\n", s.Name, s.Tag(), strings.Join(args, " ")),
	} {
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			return nil, err
		}
	}
	return []ESPFile{
		{Source: loader, Path: "/EFI/BOOT/BOOTX64.EFI"},
		{Source: loaderConf, Path: "/loader/loader.conf"},
		{Source: entry, Path: "/loader/entries/ingot.conf"},
		{Source: kernel, Path: "/vmlinuz"},
		{Source: initrd, Path: "/initrd.img"},
	}, nil
}

func describe(p string) (Disk, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return Disk{}, err
	}
	sum, err := fileSHA256(p)
	if err != nil {
		return Disk{}, err
	}
	out := Disk{Path: p, Digest: "sha256:" + sum, Size: fi.Size()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		out.Allocated = st.Blocks * 512
	}
	return out, nil
}
