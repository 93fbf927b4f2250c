package imagetest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/imageref"
)

// Options say how command tests run.
type Options struct {
	// Runc is the path of runc; "" looks up "runc" in PATH.
	Runc string
	// WorkDir is where the image is unpacked for command tests, in a temporary directory removed
	// afterwards; "" is the system's temporary directory.
	WorkDir string
	// Parallel is how many command tests run at once; 0 is the number of CPUs.
	Parallel int
	// Limits bound how much the image's layers may decompress to, over every read of them.
	Limits imageref.Limits
}

// Native is the platform this host runs: the images whose command tests can run here.
func Native() v1.Platform { return v1.Platform{OS: "linux", Architecture: runtime.GOARCH} }

// Run evaluates the suite against the image and returns one finding per test, in the order of the
// file: command tests, file existence, file content, metadata. Metadata and file tests read the config
// and the flattened layers (each layer read once; file contents read only for content tests). Command
// tests run each command under runc in the unpacked image; when that cannot happen here (no runc, not
// root, an image for another platform) they are reported skipped, with the reason. A test failing is a
// finding, not an error; errors are for images that cannot be read.
func Run(ctx context.Context, img v1.Image, s *Suite, opt Options) ([]evidence.Finding, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	cfgFile, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading the image config: %w", err)
	}
	var runc, skip string
	if len(s.CommandTests) > 0 {
		runc, skip = opt.runtime(cfgFile)
	}
	var root *os.Root
	var work, rootfs string
	if len(s.CommandTests) > 0 && skip == "" {
		if work, err = os.MkdirTemp(opt.WorkDir, "ingot-test-"); err != nil {
			return nil, fmt.Errorf("making a work directory: %w", err)
		}
		defer os.RemoveAll(work) //nolint:errcheck // a temporary directory; nothing to do if it cannot go
		rootfs = filepath.Join(work, "rootfs")
		if err := os.Mkdir(rootfs, 0o755); err != nil {
			return nil, fmt.Errorf("making a work directory: %w", err)
		}
		if root, err = os.OpenRoot(rootfs); err != nil {
			return nil, fmt.Errorf("making a work directory: %w", err)
		}
		defer root.Close() //nolint:errcheck // a directory handle
	}
	lr := imageref.NewLayerReader(opt.Limits)
	t, err := readLayers(ctx, lr, img, root)
	if err != nil {
		return nil, err
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("reading layers: %w", err)
	}
	var out []evidence.Finding
	switch {
	case len(s.CommandTests) == 0:
	case skip != "":
		for _, ct := range s.CommandTests {
			f := newFinding(ct.Name, TypeCommand, ct.Command)
			f.Status, f.Reason = evidence.StatusSkipped, skip
			out = append(out, f)
		}
	default:
		fs, err := runCommands(ctx, t, root, runc, work, rootfs, cfgFile.Config, s.CommandTests, opt.Parallel)
		if err != nil {
			return nil, err
		}
		out = append(out, fs...)
	}
	for _, ft := range s.FileExistenceTests {
		out = append(out, fileExistence(t, ft))
	}
	// File contents are read in one pass over the layers: those the content tests name, and the
	// account files when the metadata test's user can only be compared through them.
	targets := make([]contentTarget, len(s.FileContentTests))
	var files []*node
	for i, ft := range s.FileContentTests {
		targets[i] = resolveContent(t, ft.Path)
		if targets[i].err == nil {
			files = append(files, targets[i].n)
		}
	}
	var passwd, group contentTarget
	if m := s.MetadataTest; m != nil && m.User != "" && m.User != cfgFile.Config.User {
		passwd, group = resolveContent(t, "/etc/passwd"), resolveContent(t, "/etc/group")
		for _, c := range []contentTarget{passwd, group} {
			if c.err == nil {
				files = append(files, c.n)
			}
		}
	}
	var data map[*node][]byte
	if len(files) > 0 {
		if data, err = readContents(ctx, lr, layers, files); err != nil {
			return nil, err
		}
	}
	for i, ft := range s.FileContentTests {
		out = append(out, fileContent(ft, targets[i], data[targets[i].n]))
	}
	if s.MetadataTest != nil {
		out = append(out, metadata(s.MetadataTest, cfgFile.Config, data[passwd.n], data[group.n]))
	}
	return out, nil
}

// runtime finds runc, or says why command tests cannot run here.
func (o Options) runtime(cfg *v1.ConfigFile) (runc, skip string) {
	native := Native()
	if (cfg.OS != "" && cfg.OS != native.OS) || (cfg.Architecture != "" && cfg.Architecture != native.Architecture) {
		return "", fmt.Sprintf("the image is for %s/%s and this host runs %s", cfg.OS, cfg.Architecture, native)
	}
	runc = o.Runc
	if runc == "" {
		runc = "runc"
	}
	p, err := exec.LookPath(runc)
	if err != nil {
		return "", fmt.Sprintf("runc is not available: %v", err)
	}
	if uid := os.Geteuid(); uid != 0 {
		return "", fmt.Sprintf("runc needs root here, and ingot runs as uid %d", uid)
	}
	return p, ""
}

// runCommands runs the command tests over the unpacked rootfs, in parallel, keeping their order.
func runCommands(ctx context.Context, t *tree, root *os.Root, runc, work, rootfs string, cfg v1.Config, tests []CommandTest, parallel int) ([]evidence.Finding, error) {
	// runc makes missing mount points itself; making them first keeps parallel containers from racing
	// to do it.
	for _, dir := range []string{"proc", "dev", "sys", "tmp"} {
		if _, n, err := t.stat("/"+dir, false); err == nil && n == nil {
			mode := os.FileMode(0o755)
			if dir == "tmp" {
				mode = 0o777 | os.ModeSticky
			}
			if err := root.Mkdir(dir, 0o755); err != nil {
				return nil, fmt.Errorf("unpacking: %w", err)
			}
			if err := root.Chmod(dir, mode); err != nil {
				return nil, fmt.Errorf("unpacking: %w", err)
			}
		}
	}
	r := &commandRunner{runc: runc, work: work, rootfs: rootfs, env: cfg.Env, cwd: orRoot(cfg.WorkingDir)}
	fail := func(reason string) []evidence.Finding {
		out := make([]evidence.Finding, len(tests))
		for i, ct := range tests {
			out[i] = newFinding(ct.Name, TypeCommand, ct.Command)
			failures{reason}.settle(&out[i])
		}
		return out
	}
	passwd, err := readImageFile(t, root, "/etc/passwd")
	if err != nil {
		return nil, err
	}
	group, err := readImageFile(t, root, "/etc/group")
	if err != nil {
		return nil, err
	}
	if r.id, err = resolveUser(cfg.User, passwd, group); err != nil {
		return fail(fmt.Sprintf("cannot run as the image's user: %v", err)), nil
	}
	if !hasEnv(r.env, "PATH") {
		r.env = setEnv(r.env, "PATH", defaultPath)
	}
	if !hasEnv(r.env, "HOME") {
		r.env = setEnv(r.env, "HOME", orRoot(r.id.home))
	}
	if parallel <= 0 {
		parallel = runtime.NumCPU()
	}
	out := make([]evidence.Finding, len(tests))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(parallel)
	for i, ct := range tests {
		g.Go(func() error {
			out[i] = r.run(gctx, i, ct)
			return gctx.Err()
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// readImageFile reads a small file of the unpacked image, nil when it is not there.
func readImageFile(t *tree, root *os.Root, p string) ([]byte, error) {
	c := resolveContent(t, p)
	if c.err != nil {
		return nil, nil
	}
	b, err := root.ReadFile(rel(c.path))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	return b, nil
}
