package harden

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
)

// flatten reads hand-made layers (lowest first) the way Lint does.
func flatten(t testing.TB, layers ...[]tf) *imageFS {
	t.Helper()
	var entries [][]entry
	for i, l := range layers {
		es, err := readLayer(context.Background(), tar.NewReader(bytes.NewReader(tarBytes(t, l...))), i)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, es)
	}
	f := &imageFS{diffIDs: make([]string, len(layers))}
	f.merge(entries)
	return f
}

func TestMerge(t *testing.T) {
	tests := []struct {
		name   string
		layers [][]tf
		// want lists every path of the result as path:type:mode:layer, sorted.
		want string
	}{
		{
			name:   "upper file replaces lower",
			layers: [][]tf{{reg("a", 0o644, "")}, {reg("a", 0o4755, "")}},
			want:   "a:0:4755:1",
		},
		{
			name:   "whiteout hides a file and is not itself listed",
			layers: [][]tf{{reg("d/a", 0o644, ""), reg("d/b", 0o644, "")}, {reg("d/.wh.a", 0o644, "")}},
			want:   "d:5:0755:0 d/b:0:0644:0",
		},
		{
			name:   "whiteout of a directory hides everything below",
			layers: [][]tf{{dir("d/", 0o755), reg("d/x/y", 0o644, "")}, {reg(".wh.d", 0o644, "")}},
			want:   "",
		},
		{
			name:   "whiteout only hides lower layers",
			layers: [][]tf{{reg("a", 0o644, "")}, {reg(".wh.a", 0o644, ""), reg("a", 0o600, "")}},
			want:   "a:0:0600:1",
		},
		{
			name:   "opaque directory hides lower children, keeps its own",
			layers: [][]tf{{dir("d/", 0o755), reg("d/old", 0o644, "")}, {dir("d/", 0o700), reg("d/.wh..wh..opq", 0o644, ""), reg("d/new", 0o644, "")}},
			want:   "d:5:0700:1 d/new:0:0644:1",
		},
		{
			name:   "file over a directory hides what was below it",
			layers: [][]tf{{dir("d/", 0o755), reg("d/x", 0o666, "")}, {reg("d", 0o644, "")}},
			want:   "d:0:0644:1",
		},
		{
			name:   "missing parents are implied",
			layers: [][]tf{{reg("./a/b/c", 0o644, "")}},
			want:   "a:5:0755:0 a/b:5:0755:0 a/b/c:0:0644:0",
		},
		{
			name:   "hardlink takes its target's mode",
			layers: [][]tf{{reg("bin/su", 0o4755, ""), hardlink("bin/su2", "./bin/su")}},
			want:   "bin:5:0755:0 bin/su:0:4755:0 bin/su2:0:4755:0",
		},
		{
			name:   "a path written twice in one layer is the second write",
			layers: [][]tf{{reg("a", 0o4755, ""), reg("a", 0o755, ""), reg("b", 0o644, ""), symlink("b", "a")}},
			want:   "a:0:0755:0 b:2:0777:0",
		},
		{
			name:   "names are cleaned and cannot climb out",
			layers: [][]tf{{reg("/../../etc/x", 0o644, ""), reg("./a/../b", 0o644, "")}},
			want:   "b:0:0644:0 etc:5:0755:0 etc/x:0:0644:0",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := flatten(t, tt.layers...)
			var got []string
			for _, p := range f.paths {
				n := f.nodes[p]
				got = append(got, fmt.Sprintf("%s:%c:%04o:%d", p, n.typ, n.mode, n.layer))
			}
			if g := strings.Join(got, " "); g != tt.want {
				t.Errorf("got  %s\nwant %s", g, tt.want)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	f := flatten(t, []tf{
		symlink("bin", "usr/bin"),
		reg("usr/bin/dash", 0o755, ""),
		symlink("usr/bin/sh", "dash"),
		symlink("usr/bin/abs", "/usr/bin/dash"),
		symlink("usr/bin/up", "../../../../usr/bin/dash"),
		symlink("loop1", "loop2"),
		symlink("loop2", "loop1"),
		symlink("dangling", "/nowhere"),
		reg("etc/passwd", 0o644, "root:x:0:0::/root:/sbin/nologin\n"),
		symlink("etc/passwd-link", "passwd"),
	})
	tests := []struct{ in, want string }{
		{"bin/sh", "usr/bin/dash"},
		{"bin/abs", "usr/bin/dash"},
		{"bin/up", "usr/bin/dash"},
		{"usr/bin/../bin/sh", "usr/bin/dash"},
		{"loop1", ""},
		{"dangling", ""},
		{"usr/bin/dash/x", ""},
		{"etc/passwd-link", "etc/passwd"},
		{"", ""},
	}
	for _, tt := range tests {
		got, n := f.resolve(tt.in)
		if tt.want == "" && tt.in != "" {
			if n != nil {
				t.Errorf("resolve(%q) = %q, want nothing", tt.in, got)
			}
			continue
		}
		if got != tt.want || n == nil {
			t.Errorf("resolve(%q) = %q, %v; want %q", tt.in, got, n, tt.want)
		}
	}
	if data, phys, ok := f.file("etc/passwd-link"); !ok || phys != "etc/passwd" || !bytes.HasPrefix(data, []byte("root:")) {
		t.Errorf("file(etc/passwd-link) = %q, %q, %v", data, phys, ok)
	}
	if n := f.nodes["usr/bin/dash"]; n == nil || n.typ != tar.TypeReg {
		t.Errorf("usr/bin/dash = %+v", n)
	}
}

func TestKeepContent(t *testing.T) {
	f := flatten(t, []tf{reg("etc/passwd", 0o644, "a:x:1:1::/:/x\n"), reg("etc/hostname", 0o644, "h\n")}, []tf{reg("etc/group", 0o644, "g:x:1:\n")})
	if string(f.content["etc/passwd"]) != "a:x:1:1::/:/x\n" || string(f.content["etc/group"]) != "g:x:1:\n" {
		t.Errorf("account files not kept: %q", f.content)
	}
	if _, ok := f.content["etc/hostname"]; ok {
		t.Error("kept the content of a file no rule reads")
	}
}

// FuzzReadLayer feeds layer streams from untrusted images through the reader, the flattening and the
// checks that walk the result: none may panic, loop, or let a path climb out of the root.
func FuzzReadLayer(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		es, err := readLayer(context.Background(), tar.NewReader(bytes.NewReader(data)), 0)
		if err != nil {
			return
		}
		fs := &imageFS{diffIDs: []string{"sha256:0"}}
		fs.merge([][]entry{es, es})
		for _, p := range fs.paths {
			if p == "" || strings.HasPrefix(p, "/") || escapes(p) {
				t.Fatalf("path %q escapes or is not clean", p)
			}
			if phys, n := fs.resolve(p); n != nil && escapes(phys) {
				t.Fatalf("resolve(%q) = %q escapes", p, phys)
			}
		}
		tg := &target{fs: fs}
		tg.scanPaths()
		tg.executables(isShell)
		checkEmptyPassword(tg)
		checkDuplicateID(tg)
	})
}

func escapes(p string) bool { return p == ".." || strings.HasPrefix(p, "../") }
