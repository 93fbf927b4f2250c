package build

import (
	"archive/tar"
	"bufio"
	"bytes"
	"errors"
	"io"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/ingot-build/ingot/pkg/deb"
)

// testTree builds a tree from "d path", "f path", "l path target" and "h path target" lines, as a
// package's data.tar would list them.
func testTree(t testing.TB, spec string) *tree {
	t.Helper()
	tr := newTree(16)
	for _, line := range strings.Split(strings.TrimSpace(spec), "\n") {
		if err := tr.applyLine(strings.TrimSpace(line), 0); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
	}
	return tr
}

// applyLine merges one described entry, cleaning its path the way pkg/deb does.
func (t *tree) applyLine(line string, layer int) error {
	f := strings.Fields(line)
	if len(f) < 2 {
		return nil
	}
	p := strings.TrimPrefix(path.Clean("/"+f[1]), "/")
	if p == "" {
		return nil
	}
	e := &entry{Entry: deb.Entry{Path: p, Mode: 0o755}}
	switch f[0] {
	case "d":
		e.Type = tar.TypeDir
	case "f":
		e.Type, e.data = tar.TypeReg, []byte(line)
	case "l", "h":
		if len(f) < 3 {
			return nil
		}
		e.Type, e.Linkname = tar.TypeSymlink, f[2]
		if f[0] == "h" {
			e.Type, e.Linkname = tar.TypeLink, strings.TrimPrefix(path.Clean("/"+f[2]), "/")
		}
	default:
		return nil
	}
	return t.mergeEntry(e, layer)
}

func TestResolve(t *testing.T) {
	tr := testTree(t, `
		d usr/bin
		f usr/bin/sh
		l bin usr/bin
		l abs /usr
		l usr/up ..
		l up ..
		l usr/lib/esc ../../..
		l loop1 loop2
		l loop2 loop1
		l self self
		l usr/bin/rel ../../bin
		f file
	`)
	tests := []struct {
		in         string
		followLast bool
		want       string
		err        error
	}{
		{in: "bin/sh", want: "usr/bin/sh"},
		{in: "bin", want: "bin"},
		{in: "bin", followLast: true, want: "usr/bin"},
		{in: "bin/", followLast: true, want: "usr/bin"},
		{in: "abs/bin/sh", want: "usr/bin/sh"},
		{in: "usr/bin/rel/sh", want: "usr/bin/sh"},
		{in: "usr/up/bin/sh", want: "usr/bin/sh"},
		{in: "usr/up/file", want: "file"},
		{in: "missing/a/b", want: "missing/a/b"},
		{in: "usr/bin/../bin/sh", want: "usr/bin/sh"},
		{in: "", want: ""},
		{in: "up/x", err: ErrEscape},
		{in: "usr/lib/esc/x", err: ErrEscape},
		{in: "..", err: ErrEscape},
		{in: "loop1/x", err: ErrSymlinkLoop},
		{in: "self", followLast: true, err: ErrSymlinkLoop},
		{in: "self", want: "self"},
		{in: "file/x", err: ErrConflict},
	}
	for _, tc := range tests {
		got, _, err := tr.resolve(tc.in, tc.followLast)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("resolve(%q, %v): error %v, want %v", tc.in, tc.followLast, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("resolve(%q, %v) = %q, %v; want %q", tc.in, tc.followLast, got, err, tc.want)
		}
	}
}

func TestPlanLayers(t *testing.T) {
	u := func(name, source string, size int64) *unpacked {
		return &unpacked{name: name, source: source, size: size}
	}
	pkgs := []*unpacked{u("a1", "a", 10), u("b", "b", 50), u("a2", "a", 45), u("c", "c", 50), u("d", "d", 1)}
	tests := []struct {
		budget int
		want   [][]int
	}{
		{0, [][]int{{0, 1, 2, 3, 4}}},
		{1, [][]int{{0, 1, 2, 3, 4}}},
		// a (55) is largest; b and c tie at 50 and b wins by name; order follows first appearance.
		{2, [][]int{{0, 2}, {1, 3, 4}}},
		{3, [][]int{{0, 2}, {1}, {3, 4}}},
		{9, [][]int{{0, 2}, {1}, {3}, {4}, nil}},
	}
	for _, tc := range tests {
		plan := planLayers(pkgs, tc.budget)
		if len(plan.layers) != len(tc.want) {
			t.Errorf("budget %d: layers %v, want %v", tc.budget, plan.layers, tc.want)
			continue
		}
		for i := range tc.want {
			if len(plan.layers[i]) != len(tc.want[i]) {
				t.Errorf("budget %d: layers %v, want %v", tc.budget, plan.layers, tc.want)
				break
			}
			for j, m := range tc.want[i] {
				if plan.layers[i][j] != m || plan.of[m] != i {
					t.Errorf("budget %d: layers %v (of %v), want %v", tc.budget, plan.layers, plan.of, tc.want)
				}
			}
		}
	}
}

// checkInvariants verifies what the layer writer relies on: every name is clean and relative, and
// every parent is a directory in the tree.
func checkInvariants(t *testing.T, tr *tree) {
	t.Helper()
	for p, n := range tr.nodes {
		if p == "" {
			continue
		}
		if strings.HasPrefix(p, "/") || path.Clean(p) != p || p == ".." || strings.HasPrefix(p, "../") {
			t.Fatalf("unclean name %q", p)
		}
		parent := tr.nodes[parentOf(p)]
		if parent == nil || parent.typ != tar.TypeDir {
			t.Fatalf("%q has no parent directory", p)
		}
		if n.typ == tar.TypeReg && n.ino == nil {
			t.Fatalf("%q: regular file without inode", p)
		}
	}
}

// FuzzMerge feeds hostile entry lists (symlink tricks, hardlinks, type clashes) to the merge and the
// layer writer: they may fail, but never panic, loop, escape the root or write a broken tar. The seed
// corpus is in testdata/fuzz/FuzzMerge.
func FuzzMerge(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		tr := newTree(16)
		sc := bufio.NewScanner(bytes.NewReader(data))
		lines := 0
		for sc.Scan() && lines < 200 {
			lines++
			_ = tr.applyLine(sc.Text(), lines%3) // errors are expected; the tree must stay consistent
		}
		checkInvariants(t, tr)
		epoch := time.Unix(1700000000, 0)
		for _, paths := range tr.layerPaths(3) {
			var b bytes.Buffer
			if err := tr.writeTar(&b, paths, epoch); err != nil {
				t.Fatalf("writing layer: %v", err)
			}
			rd := tar.NewReader(&b)
			for {
				h, err := rd.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("reading back: %v", err)
				}
				if h.Typeflag == tar.TypeLink && !containsBefore(paths, h.Linkname, h.Name) {
					t.Fatalf("hardlink %s -> %s does not point at an earlier entry", h.Name, h.Linkname)
				}
			}
		}
	})
}

func containsBefore(paths []string, target, name string) bool {
	for _, p := range paths {
		if p == strings.TrimSuffix(name, "/") {
			return false
		}
		if p == target {
			return true
		}
	}
	return false
}
