package layers_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ingot-build/ingot/pkg/layers"
)

// tricky are the layer stacks the fuzzer starts from (testdata/fuzz/FuzzWalk holds them, written by
// TestFuzzSeeds -update): whiteouts of directories made again, opaque directories, hard links into
// whited-out paths, files replaced by symlinks and directories by files, names that climb.
func tricky(t testing.TB) map[string][3][]ent {
	return map[string][3][]ent{
		"dir-whiteout-recreated": {{dir("d", 0o755), reg("d/a", 0o644, "a")}, {wh("", "d")}, {dir("d", 0o700), reg("d/b", 0o644, "b")}},
		"opaque":                 {{dir("d", 0o755), reg("d/a", 0o644, "a"), dir("d/e", 0o755), reg("d/e/f", 0o644, "f")}, {opq("d"), reg("d/b", 0o644, "b")}, {opq("."), reg("x", 0o644, "")}},
		"hardlink-whiteout":      {{reg("a", 0o4755, "x")}, {hard("b", "a"), wh("", "a"), hard("c", "a")}, {hard("d", "b"), wh("", "b")}},
		"symlink-replaces-file":  {{reg("etc/cfg", 0o644, "t"), dir("bin", 0o755), reg("bin/sh", 0o755, "")}, {sym("etc/cfg", "/etc/passwd"), sym("bin", "usr/bin")}, {reg("bin/sh", 0o755, "again")}},
		"file-replaces-dir":      {{dir("d", 0o755), reg("d/x", 0o644, "")}, {reg("d", 0o644, "")}, {reg("d/y", 0o644, "")}},
		"climbing-names":         {{reg("../../etc/x", 0o644, ""), reg("./a/../b", 0o644, ""), hard("c", "../../etc/x")}, {wh("../", "b"), reg(".wh.", 0o644, "")}, {opq("../..")}},
		"same-path-twice":        {{reg("a", 0o4755, ""), reg("a", 0o755, ""), reg("b", 0o644, ""), sym("b", "a"), wh("", "a")}, {}, {}},
	}
}

// TestFuzzSeeds keeps the seed corpus in step with tricky.
func TestFuzzSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzWalk")
	for name, stack := range tricky(t) {
		var b strings.Builder
		b.WriteString("go test fuzz v1\n")
		for _, es := range stack {
			fmt.Fprintf(&b, "[]byte(%q)\n", tarOf(t, es...))
		}
		file := filepath.Join(dir, name)
		if *update {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if got, err := os.ReadFile(file); err != nil || string(got) != b.String() {
			t.Errorf("%s is not the seed of %s (go test -run TestFuzzSeeds -update): %v", file, name, err)
		}
	}
}

// FuzzWalk walks three arbitrary layers: an error or a merged file system whose every path is clean
// and under the root, whose node count is right, and where every entry visited is either where it
// was written or has a fate naming a later layer. Never a panic.
func FuzzWalk(f *testing.F) {
	f.Fuzz(func(t *testing.T, a, b, c []byte) {
		li := &layers.Image{Config: &v1.ConfigFile{}}
		for _, data := range [][]byte{a, b, c} {
			l := plainBytes(data)
			li.Layers = append(li.Layers, l)
			li.DiffIDs = append(li.DiffIDs, must(l.DiffID()))
		}
		r := &recorder{}
		if err := layers.Walk(context.Background(), li, layers.Options{}, r); err != nil {
			return
		}
		n := 0
		r.fs.Walk(func(p string, node *layers.Node) {
			n++
			if p == "" || strings.HasPrefix(p, "/") || p != filepath.Clean(p) || p == ".." || strings.HasPrefix(p, "../") {
				t.Fatalf("path %q is not clean or climbs out", p)
			}
			if r.fs.Lookup(p) != node {
				t.Fatalf("Lookup(%q) is not the node Walk gave", p)
			}
		})
		if n != r.fs.Len() {
			t.Fatalf("Walk gave %d nodes, Len says %d", n, r.fs.Len())
		}
		for key, id := range r.ids {
			fate := r.fs.Fate(id[0], id[1])
			if fate.Removed && fate.By < id[0] {
				t.Fatalf("%s removed by layer %d, below its own", key, fate.By)
			}
			_, p, _ := strings.Cut(key, ":")
			if n := r.fs.Lookup(p); !fate.Removed && (n == nil || n.Layer != id[0] || n.Index != id[1]) {
				t.Fatalf("%s is kept, but the merged view has %+v there", key, n)
			}
		}
	})
}
