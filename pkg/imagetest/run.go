package imagetest

import (
	"archive/tar"
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/imageref"
	"github.com/ingot-build/ingot/pkg/layers"
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
// and the flattened layers (each layer read once, through the layer walker, with the contents the
// content tests may need). Command tests run each command under runc in the unpacked image; when
// that cannot happen here (no runc, not root, an image for another platform) they are reported
// skipped, with the reason. A test failing is a finding, not an error; errors are for images that
// cannot be read. Visitor runs the same tests as one visitor of a walk shared with other stages.
func Run(ctx context.Context, img v1.Image, s *Suite, opt Options) ([]evidence.Finding, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	li, err := layers.Open(img)
	if err != nil {
		return nil, err
	}
	v, err := NewVisitor(li, s, opt)
	if err != nil {
		return nil, err
	}
	defer v.Close()
	if err := layers.Walk(ctx, li, layers.Options{Reader: v.lr, Sequential: v.Sequential()}, v); err != nil {
		return nil, err
	}
	return v.Findings(ctx)
}

// Visitor is a Run as a visitor of a layer walk (see pkg/layers): after the walk, Findings returns
// what Run would have. Close removes the work directory.
type Visitor struct {
	suite   *Suite
	opt     Options
	cfgFile *v1.ConfigFile
	li      *layers.Image
	lr      *imageref.LayerReader

	runc, skip, work, rootfs string
	root                     *os.Root

	tv *treeVisitor
	// names are the base names of the files whose contents the tests may read; data holds what the
	// walk read of them, by layer and entry.
	names map[string]bool
	data  map[[2]int][]byte
}

// NewVisitor prepares the tests of suite against the image li names; with command tests that can
// run here, it makes the work directory the image is unpacked to (Sequential then reports true).
func NewVisitor(li *layers.Image, s *Suite, opt Options) (*Visitor, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	v := &Visitor{suite: s, opt: opt, cfgFile: li.Config, li: li, lr: imageref.NewLayerReader(opt.Limits), data: map[[2]int][]byte{}}
	if len(s.CommandTests) > 0 {
		v.runc, v.skip = opt.runtime(v.cfgFile)
	}
	if len(s.CommandTests) > 0 && v.skip == "" {
		var err error
		if v.work, err = os.MkdirTemp(opt.WorkDir, "ingot-test-"); err != nil {
			return nil, fmt.Errorf("making a work directory: %w", err)
		}
		v.rootfs = filepath.Join(v.work, "rootfs")
		if err := os.Mkdir(v.rootfs, 0o755); err != nil {
			v.Close()
			return nil, fmt.Errorf("making a work directory: %w", err)
		}
		if v.root, err = os.OpenRoot(v.rootfs); err != nil {
			v.Close()
			return nil, fmt.Errorf("making a work directory: %w", err)
		}
	}
	v.tv = &treeVisitor{t: newTree(v.root)}
	v.names = map[string]bool{"passwd": true, "group": true}
	for _, ft := range s.FileContentTests {
		v.names[path.Base(ft.Path)] = true
	}
	return v, nil
}

// Sequential reports whether the walk must be sequential: the image is unpacked as it is read.
func (v *Visitor) Sequential() bool { return v.root != nil }

// Close removes the work directory, if any.
func (v *Visitor) Close() {
	if v.root != nil {
		_ = v.root.Close()
		v.root = nil
	}
	if v.work != "" {
		_ = os.RemoveAll(v.work)
		v.work = ""
	}
}

// Want takes every entry (the structure tests see the file system as a runtime makes it, symlinks
// in the way followed), with the contents a content test or the user lookup may read, and, when
// unpacking, every file's content as a stream.
func (v *Visitor) Want(e *layers.Entry) layers.Interest {
	w := v.tv.Want(e)
	if e.Header.Typeflag == tar.TypeReg && v.names[path.Base(e.Path)] {
		w.Read, w.Max = true, maxContent
	}
	return w
}

// Visit applies the entry and keeps the content read.
func (v *Visitor) Visit(ctx context.Context, e *layers.Entry) error {
	if e.Data != nil {
		v.data[[2]int{e.Layer, e.Index}] = e.Data
	}
	return v.tv.Visit(ctx, e)
}

// Done does nothing: the tests need the tree as this package builds it.
func (v *Visitor) Done(context.Context, *layers.FS) error { return nil }

// Findings runs the tests once the walk is done.
func (v *Visitor) Findings(ctx context.Context) ([]evidence.Finding, error) {
	s, t := v.suite, v.tv.t
	var out []evidence.Finding
	switch {
	case len(s.CommandTests) == 0:
	case v.skip != "":
		for _, ct := range s.CommandTests {
			f := newFinding(ct.Name, TypeCommand, ct.Command)
			f.Status, f.Reason = evidence.StatusSkipped, v.skip
			out = append(out, f)
		}
	default:
		fs, err := runCommands(ctx, t, v.root, v.runc, v.work, v.rootfs, v.cfgFile.Config, s.CommandTests, v.opt.Parallel)
		if err != nil {
			return nil, err
		}
		out = append(out, fs...)
	}
	for _, ft := range s.FileExistenceTests {
		out = append(out, fileExistence(t, ft))
	}
	// File contents: those the content tests name, and the account files when the metadata test's
	// user can only be compared through them. The walk read them unless a symlink led to a file of
	// another name; those are read from the layers that hold them.
	targets := make([]contentTarget, len(s.FileContentTests))
	var files []*node
	for i, ft := range s.FileContentTests {
		targets[i] = resolveContent(t, ft.Path)
		if targets[i].err == nil {
			files = append(files, targets[i].n)
		}
	}
	var passwd, group contentTarget
	if m := s.MetadataTest; m != nil && m.User != "" && m.User != v.cfgFile.Config.User {
		passwd, group = resolveContent(t, "/etc/passwd"), resolveContent(t, "/etc/group")
		for _, c := range []contentTarget{passwd, group} {
			if c.err == nil {
				files = append(files, c.n)
			}
		}
	}
	data := map[*node][]byte{}
	var missing []*node
	for _, n := range files {
		if b, ok := v.data[[2]int{n.layer, n.entry}]; ok {
			data[n] = b
		} else {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		more, err := readContents(ctx, v.lr, v.li.Layers, missing)
		if err != nil {
			return nil, err
		}
		maps.Copy(data, more)
	}
	for i, ft := range s.FileContentTests {
		out = append(out, fileContent(ft, targets[i], data[targets[i].n]))
	}
	if s.MetadataTest != nil {
		out = append(out, metadata(s.MetadataTest, v.cfgFile.Config, data[passwd.n], data[group.n]))
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
