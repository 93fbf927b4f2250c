package imagetest

import (
	"archive/tar"
	"bytes"
	"errors"
	"strings"
	"testing"
)

// FuzzParse: no test file makes Parse panic, and what it accepts validates.
func FuzzParse(f *testing.F) {
	f.Add([]byte("metadataTest: {user: nonroot}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("Parse accepted a suite that does not validate: %v", err)
		}
	})
}

// FuzzLayer: no layer makes flattening panic or loop, and every path it holds resolves.
func FuzzLayer(f *testing.F) {
	f.Add(tarBytes(f, fileE("a", 0o644, "a"), symE("b", "/a")))
	f.Fuzz(func(t *testing.T, data []byte) {
		tr := newTree(nil)
		tr.written = map[*node]bool{}
		r := tar.NewReader(bytes.NewReader(data))
		for entry := 0; ; entry++ {
			hdr, err := r.Next()
			if err != nil {
				break
			}
			if err := tr.apply(0, entry, hdr, r); err != nil {
				return
			}
		}
		var walk func(p string, n *node)
		walk = func(p string, n *node) {
			for name, c := range n.children {
				cp := join(p, name)
				if strings.Contains(name, "/") || name == ".." || name == "." || name == "" {
					t.Fatalf("tree holds the name %q under %s", name, p)
				}
				got, gn, err := tr.stat(cp, false)
				if err != nil || gn != c || got != cp {
					t.Fatalf("stat(%s) = %s, %v, %v", cp, got, gn, err)
				}
				_, _, _ = tr.stat(cp, true) // may fail (loops, dangling), must not panic
				walk(cp, c)
			}
		}
		walk("/", tr.top)
	})
}
