package layers_test

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/harden"
	"github.com/ingot-build/ingot/pkg/imageref"
	"github.com/ingot-build/ingot/pkg/imagetest"
	"github.com/ingot-build/ingot/pkg/layers"
	"github.com/ingot-build/ingot/pkg/publish"
	"github.com/ingot-build/ingot/pkg/sbom"
	"github.com/ingot-build/ingot/pkg/secrets"
	"github.com/ingot-build/ingot/pkg/stages"
)

// recorder is a visitor that takes every entry with its content, and keeps the merged view.
type recorder struct {
	seen []string // layer:path for each entry visited with content, with the content
	fs   *layers.FS
	ids  map[string][2]int // layer:path -> layer, index
}

func (r *recorder) Want(e *layers.Entry) layers.Interest {
	return layers.Interest{Visit: true, Read: true, Max: 1 << 20}
}

func (r *recorder) Visit(_ context.Context, e *layers.Entry) error {
	if r.ids == nil {
		r.ids = map[string][2]int{}
	}
	key := fmt.Sprintf("%d:%s", e.Layer, e.Path)
	switch {
	case e.Whiteout:
		key += " whiteout"
	case e.Opaque:
		key += " opaque"
	case e.Data != nil:
		key += "=" + string(e.Data)
	}
	if e.Node != nil && !e.Whiteout && !e.Opaque {
		r.ids[fmt.Sprintf("%d:%s", e.Layer, e.Path)] = [2]int{e.Layer, e.Index}
	}
	r.seen = append(r.seen, key)
	return nil
}

func (r *recorder) Done(_ context.Context, fs *layers.FS) error {
	r.fs = fs
	return nil
}

// merged lists the merged file system as path:type:mode[:data].
func (r *recorder) merged() string {
	var out []string
	r.fs.Walk(func(p string, n *layers.Node) {
		s := fmt.Sprintf("%s:%c:%o", p, n.Type, n.Mode)
		if n.Linkname != "" {
			s += "->" + n.Linkname
		}
		out = append(out, s)
	})
	return strings.Join(out, " ")
}

// fate is what became of the entry at layer:path.
func (r *recorder) fate(key string) string {
	id, ok := r.ids[key]
	if !ok {
		return "not visited"
	}
	f := r.fs.Fate(id[0], id[1])
	switch {
	case !f.Removed:
		return "kept"
	case f.Replaced:
		return fmt.Sprintf("replaced by %d", f.By)
	}
	return fmt.Sprintf("deleted by %d", f.By)
}

func walk(t *testing.T, ls ...v1.Layer) *recorder {
	t.Helper()
	li, err := layers.Open(imageOf(t, v1.Config{}, ls...))
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{}
	if err := layers.Walk(context.Background(), li, layers.Options{}, r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestWalkMerges(t *testing.T) {
	tests := []struct {
		name   string
		layers [][]ent
		merged string
		fates  map[string]string
	}{
		{
			name: "a directory whited out and made again by a later layer",
			layers: [][]ent{
				{dir("d", 0o755), reg("d/old", 0o644, "o"), dir("d/sub", 0o755), reg("d/sub/x", 0o644, "x")},
				{wh("", "d")},
				{dir("d", 0o700), reg("d/new", 0o644, "n")},
			},
			merged: "d:5:700 d/new:0:644",
			fates:  map[string]string{"0:d/old": "deleted by 1", "0:d/sub/x": "deleted by 1", "0:d": "deleted by 1", "2:d/new": "kept"},
		},
		{
			name: "an opaque directory hides what lower layers put in it, not what its own layer does",
			layers: [][]ent{
				{dir("d", 0o755), reg("d/a", 0o644, "a"), dir("d/e", 0o755), reg("d/e/f", 0o644, "f"), reg("keep", 0o644, "k")},
				{dir("d", 0o755), reg("d/b", 0o644, "b"), opq("d")},
			},
			merged: "d:5:755 d/b:0:644 keep:0:644",
			fates:  map[string]string{"0:d/a": "deleted by 1", "0:d/e/f": "deleted by 1", "1:d/b": "kept", "0:keep": "kept"},
		},
		{
			name: "a hard link into a path whited out after it keeps the inode",
			layers: [][]ent{
				{dir("srv", 0o755), reg("srv/orig", 0o4755, "payload")},
				{hard("srv/link", "srv/orig"), wh("srv/", "orig")},
			},
			merged: "srv:5:755 srv/link:0:4755",
			fates:  map[string]string{"0:srv/orig": "deleted by 1", "1:srv/link": "kept"},
		},
		{
			name: "a hard link to a path already whited out has no target",
			layers: [][]ent{
				{reg("a", 0o600, "secret")},
				{wh("", "a"), hard("b", "a")},
			},
			merged: "b:0:0",
			fates:  map[string]string{"0:a": "deleted by 1"},
		},
		{
			name: "a file replaced by a symlink in a later layer",
			layers: [][]ent{
				{dir("etc", 0o755), reg("etc/cfg", 0o644, "token"), reg("etc/passwd", 0o644, "root")},
				{sym("etc/cfg", "/etc/passwd")},
			},
			merged: "etc:5:755 etc/cfg:2:777->/etc/passwd etc/passwd:0:644",
			fates:  map[string]string{"0:etc/cfg": "replaced by 1", "1:etc/cfg": "kept"},
		},
		{
			name: "a file where a directory was hides everything below it",
			layers: [][]ent{
				{dir("d", 0o755), reg("d/x", 0o644, "x")},
				{reg("d", 0o644, "file")},
			},
			merged: "d:0:644",
			fates:  map[string]string{"0:d/x": "replaced by 1", "1:d": "kept"},
		},
		{
			name: "a whiteout only hides lower layers",
			layers: [][]ent{
				{reg("a", 0o644, "1")},
				{reg("a", 0o600, "2"), wh("", "a")},
			},
			merged: "a:0:600",
			fates:  map[string]string{"0:a": "replaced by 1", "1:a": "kept"},
		},
		{
			name: "the root made opaque hides every lower layer",
			layers: [][]ent{
				{reg("a", 0o644, "1"), dir("d", 0o755), reg("d/b", 0o644, "2")},
				{opq("."), reg("c", 0o644, "3")},
			},
			merged: "c:0:644",
			fates:  map[string]string{"0:a": "deleted by 1", "0:d/b": "deleted by 1"},
		},
		{
			name: "missing parents are implied",
			layers: [][]ent{
				{reg("./a/b/c", 0o644, "")},
			},
			merged: "a:5:755 a/b:5:755 a/b/c:0:644",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ls []v1.Layer
			for _, es := range tt.layers {
				ls = append(ls, gzipLayer(t, es...))
			}
			r := walk(t, ls...)
			if got := r.merged(); got != tt.merged {
				t.Errorf("merged:\n got %s\nwant %s", got, tt.merged)
			}
			for k, want := range tt.fates {
				if got := r.fate(k); got != want {
					t.Errorf("fate of %s = %s, want %s", k, got, want)
				}
			}
		})
	}
}

// TestWalkHardLinkContent: a hard link has its target's mode and the content the walker kept for
// the target, even from a lower layer whose name is deleted since.
func TestWalkHardLinkContent(t *testing.T) {
	li, err := layers.Open(imageOf(t, v1.Config{},
		gzipLayer(t, reg("etc/passwd", 0o644, "root:x:0:0::/:/bin/sh\n")),
		gzipLayer(t, hard("etc/passwd-", "etc/passwd"), wh("etc/", "passwd")),
	))
	if err != nil {
		t.Fatal(err)
	}
	k := &keeper{}
	if err := layers.Walk(context.Background(), li, layers.Options{}, k); err != nil {
		t.Fatal(err)
	}
	n := k.fs.Lookup("etc/passwd-")
	if n == nil || n.Type != tar.TypeReg || n.Mode != 0o644 || string(n.Data) != "root:x:0:0::/:/bin/sh\n" {
		t.Fatalf("etc/passwd- = %+v", n)
	}
	if k.fs.Lookup("etc/passwd") != nil {
		t.Error("the whited-out name is still there")
	}
}

type keeper struct{ fs *layers.FS }

func (k *keeper) Want(e *layers.Entry) layers.Interest {
	return layers.Interest{Visit: true, Read: true, Max: 1 << 10, Keep: true}
}
func (k *keeper) Visit(context.Context, *layers.Entry) error { return nil }
func (k *keeper) Done(_ context.Context, fs *layers.FS) error {
	k.fs = fs
	return nil
}

// TestWalkCompressions reads the same stack with gzip, zstd and uncompressed layers, in memory and
// from an OCI layout (where the walker inflates the stored blobs itself): the same entries, the same
// merged view.
func TestWalkCompressions(t *testing.T) {
	l0 := []ent{dir("etc", 0o755), reg("etc/a", 0o644, "a"), reg("etc/b", 0o644, strings.Repeat("b", 100000))}
	l1 := []ent{wh("etc/", "a"), reg("etc/c", 0o644, "c")}
	var want *recorder
	for _, c := range []struct {
		name string
		make func(testing.TB, ...ent) v1.Layer
	}{{"gzip", gzipLayer}, {"zstd", zstdLayer}, {"none", plainLayer}} {
		for _, stored := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s stored=%v", c.name, stored), func(t *testing.T) {
				img := imageOf(t, v1.Config{}, c.make(t, l0...), c.make(t, l1...))
				if stored {
					img = throughLayout(t, img)
				}
				li, err := layers.Open(img)
				if err != nil {
					t.Fatal(err)
				}
				r := &recorder{}
				if err := layers.Walk(context.Background(), li, layers.Options{}, r); err != nil {
					t.Fatal(err)
				}
				if !slices.Contains(r.seen, "0:etc/b="+strings.Repeat("b", 100000)) || !slices.Contains(r.seen, "1:etc/a whiteout") {
					t.Errorf("entries: %.200q", r.seen)
				}
				if want == nil {
					want = r
				} else if !slices.Equal(r.seen, want.seen) || r.merged() != want.merged() {
					t.Errorf("%s differs from gzip:\n%s\n%s", c.name, r.merged(), want.merged())
				}
			})
		}
	}
}

// throughLayout writes img to an OCI layout and reads it back as ingot reads layouts.
func throughLayout(t testing.TB, img v1.Image) v1.Image {
	t.Helper()
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	got, err := imageref.Open(context.Background(), "oci:"+dir, imageref.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range must(got.Layers()) {
		if s, ok := l.(imageref.Stored); !ok || !s.StoredCompressed() {
			t.Fatalf("a layout layer (%T) is not read as stored", l)
		}
	}
	return got
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestWalkIntegrity: a stored blob that does not match its digest fails the walk with
// publish.ErrIntegrity, and no visitor's Done is called.
func TestWalkIntegrity(t *testing.T) {
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	l := gzipLayer(t, reg("a", 0o644, strings.Repeat("a", 5000)))
	if err := p.AppendImage(imageOf(t, v1.Config{}, l)); err != nil {
		t.Fatal(err)
	}
	d := must(l.Digest())
	blob := must(p.Blob(d))
	data := must(io.ReadAll(blob))
	data[len(data)-10] ^= 0xff
	if err := os.WriteFile(filepath.Join(dir, "blobs", d.Algorithm, d.Hex), data, 0o644); err != nil {
		t.Fatal(err)
	}
	img, err := imageref.Open(context.Background(), "oci:"+dir, imageref.Options{})
	if err != nil {
		t.Fatal(err)
	}
	li := must(layers.Open(img))
	r := &recorder{}
	err = layers.Walk(context.Background(), li, layers.Options{}, r)
	if !errors.Is(err, publish.ErrIntegrity) {
		t.Fatalf("walk of a damaged blob: %v", err)
	}
	if r.fs != nil {
		t.Error("Done was called after a failed walk")
	}
}

// TestWalkLimit: the image's budget applies to the whole walk.
func TestWalkLimit(t *testing.T) {
	li := must(layers.Open(imageOf(t, v1.Config{}, gzipLayer(t, reg("big", 0o644, strings.Repeat("x", 1<<20))))))
	err := layers.Walk(context.Background(), li, layers.Options{Limits: imageref.Limits{MaxImageBytes: 64 << 10}}, &recorder{})
	if !errors.Is(err, imageref.ErrTooLarge) {
		t.Fatalf("walk over the limit: %v", err)
	}
}

// counted wraps an image so that every opening of a layer's stream is counted.
type counted struct {
	v1.Image
	reads []*atomic.Int32
}

func countReads(t testing.TB, img v1.Image) *counted {
	t.Helper()
	ls := must(img.Layers())
	c := &counted{Image: img}
	for range ls {
		c.reads = append(c.reads, &atomic.Int32{})
	}
	return c
}

func (c *counted) Layers() ([]v1.Layer, error) {
	ls, err := c.Image.Layers()
	if err != nil {
		return nil, err
	}
	out := make([]v1.Layer, len(ls))
	for i, l := range ls {
		out[i] = countedLayer{Layer: l, n: c.reads[i]}
	}
	return out, nil
}

func (c *counted) counts() []int32 {
	var out []int32
	for _, r := range c.reads {
		out = append(out, r.Swap(0))
	}
	return out
}

type countedLayer struct {
	v1.Layer
	n *atomic.Int32
}

func (l countedLayer) Compressed() (io.ReadCloser, error) {
	l.n.Add(1)
	return l.Layer.Compressed()
}

func (l countedLayer) Uncompressed() (io.ReadCloser, error) {
	l.n.Add(1)
	return l.Layer.Uncompressed()
}

func (l countedLayer) DiffID() (v1.Hash, error) {
	l.n.Add(100) // asking a layer for its diff ID may read it; the walker takes them from the config
	return l.Layer.DiffID()
}

// TestOneReadPerLayer counts the layer reads of each stage's own entry, and of the whole gate (with
// the structure tests the golden files run): one per layer each.
func TestOneReadPerLayer(t *testing.T) {
	ctx := context.Background()
	for name, img := range fixtures(t) {
		c := countReads(t, img)
		once := slices.Repeat([]int32{1}, len(c.reads))
		check := func(what string, err error) {
			t.Helper()
			if err != nil {
				t.Fatalf("%s %s: %v", name, what, err)
			}
			if got := c.counts(); !slices.Equal(got, once) {
				t.Errorf("%s %s read the layers %v times, want once each", name, what, got)
			}
		}
		_, err := sbom.Inventory(ctx, c, sbom.Options{})
		check("sbom", err)
		_, err = secrets.Scan(ctx, c, secrets.Options{})
		check("secrets", err)
		_, err = harden.Lint(ctx, c, harden.Options{})
		check("lint", err)
		_, err = imagetest.Run(ctx, c, suite(), imagetest.Options{})
		check("test", err)
		res, err := stages.Run(ctx, c, stages.Options{
			SBOM: &sbom.Options{}, Secrets: &secrets.Options{}, Lint: &harden.Options{Profile: harden.ProfileCIS},
			Tests: suite(),
		})
		check("gate", err)
		if res.Inventory == nil || res.Lint == nil || res.Tests == nil {
			t.Fatalf("%s: the gate left a stage out: %+v", name, res)
		}
	}
}

// TestGateSameAsStages: the gate's results are each stage's own, byte for byte (the golden files).
func TestGateSameAsStages(t *testing.T) {
	ctx := context.Background()
	for name, img := range fixtures(t) {
		res, err := stages.Run(ctx, img, stages.Options{
			SBOM: &sbom.Options{Ref: name}, Secrets: &secrets.Options{},
			Lint:  &harden.Options{Profile: harden.ProfileCIS, Secrets: func(context.Context, v1.Image) ([]evidence.Finding, error) { panic("the gate's secrets feed the rule") }},
			Tests: suite(),
		})
		if err != nil {
			t.Fatal(err)
		}
		for stage, v := range map[string]any{"sbom": res.Inventory, "secrets": res.Secrets, "lint-cis": res.Lint, "test": res.Tests} {
			checkGolden(t, name, stage, v)
		}
	}
}

// TestWalkVisitorError: a visitor's error ends the walk, whatever the readers are doing.
func TestWalkVisitorError(t *testing.T) {
	var ls []v1.Layer
	for i := range 6 {
		var es []ent
		for j := range layers.Ahead * 2 {
			es = append(es, reg(fmt.Sprintf("d%d/%d", i, j), 0o644, "x"))
		}
		ls = append(ls, gzipLayer(t, es...))
	}
	li := must(layers.Open(imageOf(t, v1.Config{}, ls...)))
	boom := errors.New("boom")
	err := layers.Walk(context.Background(), li, layers.Options{}, failing{at: 3, err: boom})
	if !errors.Is(err, boom) {
		t.Fatalf("walk: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := layers.Walk(ctx, li, layers.Options{}, &recorder{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled walk: %v", err)
	}
}

type failing struct {
	at  int
	err error
}

func (f failing) Want(*layers.Entry) layers.Interest { return layers.Interest{Visit: true} }
func (f failing) Visit(_ context.Context, e *layers.Entry) error {
	if e.Layer == f.at {
		return f.err
	}
	return nil
}
func (f failing) Done(context.Context, *layers.FS) error { return errors.New("done after a failure") }

// TestLayerCache: with a layer cache, a layer already analysed is not read again, in the same image
// or in another that shares it, and the inventory is the one read without the cache (the golden
// files); a damaged cache entry is a miss, read again.
func TestLayerCache(t *testing.T) {
	ctx := context.Background()
	cache := layers.DirCache{Dir: t.TempDir()}
	for name, img := range fixtures(t) {
		c := countReads(t, img)
		for run, want := range []int32{1, 0} {
			inv, err := sbom.Inventory(ctx, c, sbom.Options{Ref: name, Layers: cache})
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, name, "sbom", inv)
			if got := c.counts(); !slices.Equal(got, slices.Repeat([]int32{want}, len(got))) {
				t.Errorf("%s run %d read the layers %v times, want %d each", name, run, got, want)
			}
		}
	}
	// Another image on the same base layer: only its own layer is read.
	base := must(fixtures(t)["debian"].Layers())[0]
	top := gzipLayer(t, reg("var/lib/dpkg/status", 0o644, "Package: extra\nStatus: install ok installed\nVersion: 1\nArchitecture: all\n"))
	c := countReads(t, imageOf(t, v1.Config{}, base, top))
	inv, err := sbom.Inventory(ctx, c, sbom.Options{Layers: cache})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.counts(); !slices.Equal(got, []int32{0, 1}) {
		t.Errorf("the shared image read its layers %v times, want [0 1]", got)
	}
	fresh, err := sbom.Inventory(ctx, imageOf(t, v1.Config{}, base, top), sbom.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if a, b := string(must(json.Marshal(inv))), string(must(json.Marshal(fresh))); a != b {
		t.Errorf("cached:\n%s\nread:\n%s", a, b)
	}
	// Damage every entry: each is a miss, and the layers are read again.
	es := must(os.ReadDir(cache.Dir))
	for _, e := range es {
		p := filepath.Join(cache.Dir, e.Name())
		data := must(os.ReadFile(p))
		data[len(data)-2] ^= 1
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := layers.Check(data); !errors.Is(err, layers.ErrDamaged) {
			t.Errorf("Check of a damaged entry: %v", err)
		}
	}
	if _, err := sbom.Inventory(ctx, c, sbom.Options{Layers: cache}); err != nil {
		t.Fatal(err)
	}
	if got := c.counts(); !slices.Equal(got, []int32{1, 1}) {
		t.Errorf("after damage the layers were read %v times, want [1 1]", got)
	}
}

// TestGateInventoryCache: the gate takes an inventory its cache holds and then reads the layers only
// for the other stages; with nothing else to run, not at all.
func TestGateInventoryCache(t *testing.T) {
	ctx := context.Background()
	c := countReads(t, fixtures(t)["debian"])
	cache := &sbom.Cache{Dir: t.TempDir()}
	for run, want := range []int32{1, 0} {
		res, err := stages.Run(ctx, c, stages.Options{SBOM: &sbom.Options{Ref: "debian"}, Cache: cache})
		if err != nil {
			t.Fatal(err)
		}
		checkGolden(t, "debian", "sbom", res.Inventory)
		if got := c.counts(); !slices.Equal(got, slices.Repeat([]int32{want}, len(got))) {
			t.Errorf("run %d read the layers %v times, want %d each", run, got, want)
		}
	}
	res, err := stages.Run(ctx, c, stages.Options{SBOM: &sbom.Options{Ref: "debian"}, Cache: cache, Secrets: &secrets.Options{}})
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "debian", "secrets", res.Secrets)
	if got := c.counts(); !slices.Equal(got, slices.Repeat([]int32{1}, len(got))) {
		t.Errorf("the secrets stage read the layers %v times, want once each", got)
	}
}

// TestWalkReadAheadBudget: contents waiting for the visitors are bounded per layer; layers whose
// wanted files add up to more than the budget are still read whole, in order.
func TestWalkReadAheadBudget(t *testing.T) {
	big := strings.Repeat("x", 12<<20)
	var ls []v1.Layer
	for i := range 3 {
		var es []ent
		for j := range 4 {
			es = append(es, reg(fmt.Sprintf("l%d/f%d", i, j), 0o644, big))
		}
		ls = append(ls, gzipLayer(t, es...))
	}
	li := must(layers.Open(imageOf(t, v1.Config{}, ls...)))
	s := &sizes{}
	if err := layers.Walk(context.Background(), li, layers.Options{}, s); err != nil {
		t.Fatal(err)
	}
	if len(s.got) != 12 || s.got[0] != "l0/f0" || s.got[11] != "l2/f3" || s.total != 12*int64(len(big)) {
		t.Errorf("visited %v, %d bytes", s.got, s.total)
	}
}

type sizes struct {
	got   []string
	total int64
}

func (s *sizes) Want(e *layers.Entry) layers.Interest {
	return layers.Interest{Visit: e.Header.Typeflag == tar.TypeReg, Read: true, Max: 16 << 20}
}
func (s *sizes) Visit(_ context.Context, e *layers.Entry) error {
	s.got = append(s.got, e.Path)
	s.total += int64(len(e.Data))
	return nil
}
func (s *sizes) Done(context.Context, *layers.FS) error { return nil }

// TestLayerCacheClaims: a config may claim any diff ID, so the cache keeps a layer under what reading
// it proves. An image whose config names another layer's diff ID neither poisons that layer's
// entry nor is read from it: an in-memory layer that is not what its diff ID names fails with
// publish.ErrIntegrity and caches nothing, and a stored one is cached under its blob's digest.
func TestLayerCacheClaims(t *testing.T) {
	ctx := context.Background()
	status := func(pkg string) ent {
		return reg("var/lib/dpkg/status", 0o644, "Package: "+pkg+"\nStatus: install ok installed\nVersion: 1\nArchitecture: all\n")
	}
	good := imageOf(t, v1.Config{}, gzipLayer(t, status("good")))
	evil := imageOf(t, v1.Config{}, gzipLayer(t, status("evil")))
	// evil's config claims good's layer.
	cf := must(evil.ConfigFile()).DeepCopy()
	cf.RootFS.DiffIDs = must(good.ConfigFile()).RootFS.DiffIDs
	lying := must(mutate.ConfigFile(evil, cf))
	names := func(inv *evidence.Inventory) []string {
		var out []string
		for _, p := range inv.Packages {
			out = append(out, p.Name)
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		stored bool
	}{{"in memory", false}, {"stored", true}} {
		t.Run(tc.name, func(t *testing.T) {
			cache := layers.DirCache{Dir: t.TempDir()}
			liar, honest := lying, good
			if tc.stored {
				liar, honest = throughLayout(t, lying), throughLayout(t, good)
			}
			inv, err := sbom.Inventory(ctx, liar, sbom.Options{Layers: cache})
			switch {
			case !tc.stored && !errors.Is(err, publish.ErrIntegrity):
				t.Fatalf("a layer that is not what its diff ID names: %v, want publish.ErrIntegrity", err)
			case tc.stored && (err != nil || !slices.Equal(names(inv), []string{"evil"})):
				t.Fatalf("a stored layer under a false diff ID: %v, %v", names(inv), err)
			}
			for run := range 2 {
				c := countReads(t, honest)
				inv, err := sbom.Inventory(ctx, c, sbom.Options{Layers: cache})
				if err != nil || !slices.Equal(names(inv), []string{"good"}) {
					t.Fatalf("run %d of the image the liar claimed to be: %v, %v", run, names(inv), err)
				}
				if want := []int32{int32(1 - run)}; !slices.Equal(c.counts(), want) {
					t.Errorf("run %d read the layer %v times, want %v", run, c.counts(), want)
				}
			}
		})
	}
}
