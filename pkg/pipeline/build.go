package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ingot-build/ingot/internal/selfid"
	"github.com/ingot-build/ingot/pkg/apt"
	"github.com/ingot-build/ingot/pkg/build"
	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/lock"
	"github.com/ingot-build/ingot/pkg/publish"
	"github.com/ingot-build/ingot/pkg/spec"
	"github.com/ingot-build/ingot/pkg/store"
)

// ErrInputChanged means the spec or lock file named in Options no longer holds the spec or lock
// being built, so the provenance could not truthfully name it.
var ErrInputChanged = errors.New("pipeline: input file changed")

// Result is a built image, stored in the layout store.
type Result struct {
	Artifact publish.Artifact
	Digest   v1.Hash
	// Layout is the OCI layout directory holding it, under the tag Tag.
	Layout, Tag string
	// Cached is true when nothing had to be built: the same inputs produced this digest before and the
	// layout still holds it, with its evidence.
	Cached bool
	// Evidence of each image (one per arch), in the order of the spec's archs; when cached, the
	// evidence recorded when it was built.
	Evidence []*evidence.Set
	// Notes say what the build left out, such as a scan without vulnerability data.
	Notes []string
}

// Build makes the image the spec and lock describe, using only what the lock pins, and stores it in
// the layout store. It refuses a lock that does not match the spec. An unchanged spec, lock and file
// set is recognised and not rebuilt. Each fresh image's evidence includes its SLSA provenance.
// A spec that Check refuses, or whose local files are missing, is refused before anything is read
// or written.
func Build(ctx context.Context, s *spec.Spec, l *lock.Lock, opt Options) (*Result, error) {
	started := time.Now()
	local, err := check(s, opt)
	if err != nil {
		return nil, err
	}
	if err := local.CheckExist(); err != nil {
		return nil, err
	}
	if err := l.Check(s); err != nil {
		return nil, err
	}
	named, err := readInputFiles(s, l, opt)
	if err != nil {
		return nil, err
	}
	files, err := readFiles(s, local)
	if err != nil {
		return nil, err
	}
	store := opt.Store().Layouts()
	key, err := cacheKey(s, l, files, local, opt)
	if err != nil {
		return nil, err
	}
	res := &Result{Layout: store.Dir(s.Name), Tag: s.Tag()}
	// A cache hit is trusted only when every blob of the stored image still hashes to its name;
	// otherwise the image is built again, which rewrites the damaged blobs.
	var damaged []publish.Damage
	if d, err := opt.Store().CachedBuild(key); err == nil && store.Has(s.Name, s.Tag(), d) {
		damaged, err = store.Check(ctx, s.Name, s.Tag(), false)
		if err == nil && len(damaged) == 0 {
			if res.Artifact, err = store.Read(s.Name, s.Tag()); err == nil {
				if res.Evidence, err = recordedEvidence(opt.Store(), res.Artifact); err == nil {
					res.Digest, res.Cached = d, true
					return res, nil
				}
			}
		}
	}

	if err := fetch(ctx, l, opt); err != nil {
		return nil, err
	}
	art, images, err := assemble(ctx, s, l, files, opt)
	if err != nil {
		return nil, err
	}
	// Evidence is collected and checked before anything is stored: an image that fails its checks
	// is not published, not even locally.
	var evs []*collected
	for i, img := range images {
		c, err := collect(ctx, s.Name+":"+s.Tag(), s, l, img, s.Archs[i] == runtime.GOARCH, opt)
		if err != nil {
			return nil, fmt.Errorf("evidence for %s (%s): %w", s.Name, s.Archs[i], err)
		}
		if err := Gate(s, c.set); err != nil {
			return nil, fmt.Errorf("%s (%s): %w", s.Name, s.Archs[i], err)
		}
		evs = append(evs, c)
		res.Evidence = append(res.Evidence, c.set)
	}
	if len(res.Evidence) > 0 && res.Evidence[0].Vulns == nil {
		res.Notes = append(res.Notes, "no vulnerability data imported: the image was not scanned (see ingot db import)")
	}
	if err := addProvenance(named, files, local, evs, opt, started, time.Now()); err != nil {
		return nil, err
	}
	if _, err := store.Write(ctx, s.Name, s.Tag(), art); err != nil {
		return nil, err
	}
	for i, img := range images {
		d, err := img.Digest()
		if err != nil {
			return nil, err
		}
		if err := opt.Store().WriteEvidence(s.Name, d, res.Evidence[i]); err != nil {
			return nil, fmt.Errorf("recording evidence: %w", err)
		}
	}
	if res.Digest, err = art.Digest(); err != nil {
		return nil, err
	}
	res.Artifact = art
	if len(damaged) > 0 {
		note, err := repairNote(ctx, store, s.Name, s.Tag(), damaged)
		if err != nil {
			return nil, err
		}
		res.Notes = append(res.Notes, note)
	}
	// The cache is an optimisation: failing to record it does not fail the build.
	_ = opt.Store().RecordBuild(key, res.Digest)
	return res, nil
}

// recordedEvidence reads back the evidence recorded for each platform image of a stored artifact,
// in its order; a cache hit is trusted only when it is all there.
func recordedEvidence(st store.Store, art publish.Artifact) ([]*evidence.Set, error) {
	platforms, err := art.Platforms()
	if err != nil {
		return nil, err
	}
	out := make([]*evidence.Set, 0, len(platforms))
	for _, p := range platforms {
		set, err := st.ReadEvidence(p.Digest)
		if err != nil {
			return nil, err
		}
		out = append(out, set)
	}
	return out, nil
}

// repairNote says which damaged blobs of the stored image writing it again repaired, after checking
// that they now hash to their names.
func repairNote(ctx context.Context, store publish.Layouts, name, tag string, damaged []publish.Damage) (string, error) {
	left, err := store.Check(ctx, name, tag, false)
	if err != nil {
		return "", err
	}
	if len(left) > 0 {
		return "", fmt.Errorf("%s:%s: building again did not repair %s: %w", name, tag, left[0].Blob, left[0].Err)
	}
	var blobs []string
	for _, d := range damaged {
		why := "did not match its digest"
		if errors.Is(d.Err, fs.ErrNotExist) {
			why = "was missing"
		}
		blobs = append(blobs, d.Blob.String()+" "+why)
	}
	return fmt.Sprintf("repaired %d damaged blob(s) of %s:%s in %s: %s", len(damaged), name, tag, store.Dir(name), strings.Join(blobs, "; ")), nil
}

// fetch makes sure every locked package is in the cache, verified.
func fetch(ctx context.Context, l *lock.Lock, opt Options) error {
	var dl []apt.Download
	for _, p := range l.Packages() {
		dl = append(dl, apt.Download{Name: p.Name + "_" + p.Version + "_" + p.Architecture, URL: p.URL, Size: p.Size, SHA256: p.SHA256})
	}
	if err := opt.Store().Packages().Fetch(ctx, dl, apt.FetchOptions{HTTP: opt.HTTP, Progress: opt.Progress}); err != nil {
		return fmt.Errorf("fetching packages: %w", err)
	}
	return nil
}

// assemble builds the artifact and returns its per-arch images in the spec's arch order.
func assemble(ctx context.Context, s *spec.Spec, l *lock.Lock, files []build.File, opt Options) (publish.Artifact, []v1.Image, error) {
	annotations := map[string]string{
		"org.opencontainers.image.title":   s.Name,
		"org.opencontainers.image.version": s.Tag(),
	}
	if l.Base != nil {
		annotations["org.opencontainers.image.base.name"] = strings.SplitN(l.Base.Ref, "@", 2)[0]
		annotations["org.opencontainers.image.base.digest"] = l.Base.Digest
	}
	for k, v := range s.Annotations {
		annotations[k] = v
	}
	var epoch time.Time
	if opt.SourceDateEpoch != nil {
		epoch = *opt.SourceDateEpoch
	}
	cache := opt.Store().Packages()
	var images []v1.Image
	for _, arch := range s.Archs {
		var pkgs []build.Package
		for _, p := range l.Archs[arch].Packages {
			data, err := cache.ReadVerified(p.SHA256)
			if err != nil {
				return publish.Artifact{}, nil, fmt.Errorf("package %s: %w", p.Name, err)
			}
			pkgs = append(pkgs, build.Package{Name: p.Name, Version: p.Version, Source: p.Source, SHA256: p.SHA256, Deb: data})
		}
		base, err := baseImage(ctx, l, arch, opt)
		if err != nil {
			return publish.Artifact{}, nil, err
		}
		img, err := build.Image(ctx, build.Options{
			Arch:        arch,
			Packages:    pkgs,
			Accounts:    accounts(s.Accounts),
			Files:       files,
			Paths:       paths(s.Paths),
			Config:      config(s),
			Base:        base,
			Epoch:       epoch,
			Layers:      s.Layers,
			Annotations: annotations,
			OSRelease:   osRelease(l),
		})
		if err != nil {
			return publish.Artifact{}, nil, fmt.Errorf("building %s for %s: %w", s.Name, arch, err)
		}
		images = append(images, img)
	}
	if len(images) == 1 {
		return publish.Artifact{Image: images[0]}, images, nil
	}
	ii, err := build.Index(images, annotations)
	if err != nil {
		return publish.Artifact{}, nil, err
	}
	return publish.Artifact{Index: ii}, images, nil
}

func baseImage(ctx context.Context, l *lock.Lock, arch string, opt Options) (v1.Image, error) {
	if l.Base == nil {
		return nil, nil
	}
	d := l.Base.Digest
	if p := l.Base.Platforms[arch]; p != "" {
		d = p
	}
	// The lock's reference is the spec's: a digest, or a tag that the lock pinned at d.
	ref, err := name.ParseReference(l.Base.Ref)
	if err != nil {
		return nil, fmt.Errorf("base: %w", err)
	}
	img, err := remote.Image(ref.Context().Digest(d), append([]remote.Option{remote.WithContext(ctx)}, opt.Remote...)...)
	if err != nil {
		return nil, fmt.Errorf("base %s for %s: %w", l.Base.Ref, arch, err)
	}
	return img, nil
}

func osRelease(l *lock.Lock) build.OSRelease {
	r := build.OSRelease{ID: "debian", Name: "Debian GNU/Linux"}
	if len(l.Repositories) > 0 {
		r.VersionCodename = l.Repositories[0].Codename
		r.VersionID = l.Repositories[0].Version
	}
	return r
}

func accounts(a *spec.Accounts) build.Accounts {
	var out build.Accounts
	if a == nil {
		return out
	}
	for _, g := range a.Groups {
		out.Groups = append(out.Groups, build.Group{Name: g.Name, GID: g.GID, Members: g.Members})
	}
	for _, u := range a.Users {
		out.Users = append(out.Users, build.User{Name: u.Name, UID: u.UID, GID: u.GID, Home: u.Home, Shell: u.Shell})
	}
	out.RunAs = a.RunAs
	return out
}

func paths(ps []spec.Path) []build.PathOp {
	var out []build.PathOp
	for _, p := range ps {
		op := build.PathOp{Path: p.Path, Type: p.Type, Target: p.Target, UID: p.UID, GID: p.GID, Recursive: p.Recursive}
		switch {
		case p.Mode != nil:
			op.Mode = fs.FileMode(*p.Mode)
		case p.Type == spec.PathDirectory:
			op.Mode = 0o755
		}
		out = append(out, op)
	}
	return out
}

func config(s *spec.Spec) build.Config {
	c := build.Config{
		Entrypoint: s.Entrypoint, Cmd: s.Cmd, WorkDir: s.WorkDir, StopSignal: s.StopSignal, Labels: s.Labels,
	}
	for k, v := range s.Env {
		c.Env = append(c.Env, k+"="+v)
	}
	slices.Sort(c.Env)
	return c
}

// readFiles reads the spec's local files through the roots they were found in, so a path changed into
// a symlink leading out since check cannot take the read outside. Directories are walked; symlinks
// inside them are copied as links, never followed.
func readFiles(s *spec.Spec, local *spec.LocalFiles) ([]build.File, error) {
	var out []build.File
	for i, f := range s.Files {
		files, err := readLocal(local.Files[i], f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", local.Files[i].Field, err)
		}
		out = append(out, files...)
	}
	return out, nil
}

// readLocal reads one files entry: a file, a symlink or a directory tree.
func readLocal(lf spec.LocalFile, f spec.File) ([]build.File, error) {
	root, err := lf.OpenRoot()
	if err != nil {
		return nil, err
	}
	defer func() { _ = root.Close() }() // a directory opened to read: closing it loses nothing
	fi, err := root.Lstat(lf.Rel)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		bf, err := readFile(root, lf.Rel, f.Path, fi, f)
		if err != nil {
			return nil, err
		}
		return []build.File{bf}, nil
	}
	var out []build.File
	top := filepath.ToSlash(lf.Rel)
	err = fs.WalkDir(root.FS(), top, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(lf.Rel, filepath.FromSlash(p))
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		bf, err := readFile(root, filepath.FromSlash(p), path.Join(f.Path, filepath.ToSlash(rel)), fi, f)
		if err != nil {
			return err
		}
		out = append(out, bf)
		return nil
	})
	return out, err
}

// readFile reads one entry below root; fi is what Lstat said it is.
func readFile(root *os.Root, src, dst string, fi fs.FileInfo, f spec.File) (build.File, error) {
	bf := build.File{Path: dst, UID: f.UID, GID: f.GID}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		target, err := root.Readlink(src)
		if err != nil {
			return bf, err
		}
		bf.Mode, bf.Linkname = fs.ModeSymlink|0o777, target
	case fi.IsDir():
		bf.Mode = fs.ModeDir | 0o755
	case fi.Mode().IsRegular():
		data, err := spec.ReadRegular(root, src)
		if err != nil {
			return bf, err
		}
		bf.Data = data
		bf.Mode = fi.Mode().Perm()
		if f.Mode != nil {
			bf.Mode = fs.FileMode(*f.Mode)
		}
	default:
		return bf, fmt.Errorf("%s: only regular files, directories and symlinks can be copied in", src)
	}
	return bf, nil
}

// cacheKey identifies everything a build's output and verdict depend on: this ingot binary, the spec,
// the lock, the local files, the epoch, the evidence inputs (structure tests, VEX) and the state of the
// vulnerability data, so new data means a new scan.
func cacheKey(s *spec.Spec, l *lock.Lock, files []build.File, local *spec.LocalFiles, opt Options) (string, error) {
	epoch := opt.SourceDateEpoch
	h := sha256.New()
	self, err := selfid.ID()
	if err != nil {
		return "", err
	}
	lb, err := l.Marshal()
	if err != nil {
		return "", err
	}
	fmt.Fprintf(h, "ingot %s\nspec %s\nlock %x\n", self, s.Digest(), sha256.Sum256(lb))
	for _, f := range files {
		fmt.Fprintf(h, "file %s %o %d %d %q %x\n", f.Path, uint32(f.Mode), f.UID, f.GID, f.Linkname, sha256.Sum256(f.Data))
	}
	if epoch != nil {
		fmt.Fprintf(h, "epoch %d\n", epoch.Unix())
	}
	inputs, err := evidenceInputs(local)
	if err != nil {
		return "", err
	}
	for _, f := range inputs {
		fmt.Fprintf(h, "evidence-input %s %s\n", f.Path, f.SHA256)
	}
	st, err := opt.Store().VulnDB().Status()
	if err != nil {
		return "", err
	}
	for _, src := range st.Sources {
		fmt.Fprintf(h, "vulndb %s %s %d\n", src.Name, src.Imported.UTC().Format(time.RFC3339Nano), src.Records)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
