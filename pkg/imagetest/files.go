package imagetest

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"regexp"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/imageref"
)

// maxContent bounds the file a content test reads.
const maxContent = 64 << 20

// Test types, in each finding's Detail["type"].
const (
	TypeCommand       = "commandTest"
	TypeFileExistence = "fileExistenceTest"
	TypeFileContent   = "fileContentTest"
	TypeMetadata      = "metadataTest"
)

// newFinding is the finding of one test: its ID and Title are the test name, until it fails, when
// Title and Description say why.
func newFinding(name, typ, path string) evidence.Finding {
	f := evidence.Finding{
		Kind:     evidence.KindTest,
		ID:       name,
		Title:    name,
		Severity: evidence.SeverityHigh,
		Status:   evidence.StatusPassed,
		Detail:   map[string]string{"type": typ},
	}
	if path != "" {
		f.Locations = []evidence.Location{{Path: path}}
	}
	return f
}

// failures collects why a test failed; none means it passed.
type failures []string

func (fs *failures) add(format string, args ...any) { *fs = append(*fs, fmt.Sprintf(format, args...)) }

// settle sets f's status and description from the failures.
func (fs failures) settle(f *evidence.Finding) {
	if len(fs) == 0 {
		f.Status = evidence.StatusPassed
		return
	}
	f.Status = evidence.StatusFailed
	f.Description = strings.Join(fs, "; ")
	f.Detail["reason"] = f.Description
	// Tables show a finding's title beside its ID (the test name): for a failure, say why.
	f.Title = f.Description
}

func fileExistence(t *tree, ft FileExistenceTest) evidence.Finding {
	f := newFinding(ft.Name, TypeFileExistence, ft.Path)
	var why failures
	_, n, err := t.stat(ft.Path, false)
	switch {
	case errors.Is(err, ErrNotDir):
		n = nil
	case err != nil:
		why.add("%v", err)
		why.settle(&f)
		return f
	}
	switch {
	case !ft.ShouldExist:
		if n != nil {
			why.add("%s exists (%s)", ft.Path, lsMode(n.mode))
		}
	case n == nil:
		why.add("%s does not exist", ft.Path)
	default:
		if ft.Permissions != "" && ft.Permissions != n.mode.String() && ft.Permissions != lsMode(n.mode) {
			why.add("permissions are %s, want %s", lsMode(n.mode), ft.Permissions)
		}
		if ft.UID != nil && *ft.UID != n.uid {
			why.add("uid is %d, want %d", n.uid, *ft.UID)
		}
		if ft.GID != nil && *ft.GID != n.gid {
			why.add("gid is %d, want %d", n.gid, *ft.GID)
		}
		if ft.IsExecutableBy != "" && !executableBy(n.mode, ft.IsExecutableBy) {
			why.add("not executable by %s (%s)", ft.IsExecutableBy, lsMode(n.mode))
		}
	}
	why.settle(&f)
	return f
}

func executableBy(m fs.FileMode, who string) bool {
	switch who {
	case ExecOwner:
		return m&0o100 != 0
	case ExecGroup:
		return m&0o010 != 0
	case ExecOther:
		return m&0o001 != 0
	}
	return m&0o111 != 0
}

// lsMode writes a mode as ls -l does ("-rwsr-xr-x"), where fs.FileMode.String writes "urwxr-xr-x".
func lsMode(m fs.FileMode) string {
	b := []byte("----------")
	switch {
	case m.IsDir():
		b[0] = 'd'
	case m&fs.ModeSymlink != 0:
		b[0] = 'l'
	case m&fs.ModeCharDevice != 0:
		b[0] = 'c'
	case m&fs.ModeDevice != 0:
		b[0] = 'b'
	case m&fs.ModeNamedPipe != 0:
		b[0] = 'p'
	case m&fs.ModeSocket != 0:
		b[0] = 's'
	}
	const rwx = "rwxrwxrwx"
	for i := range 9 {
		if m&(1<<uint(8-i)) != 0 {
			b[i+1] = rwx[i]
		}
	}
	special := func(i int, set bool, lower, upper byte) {
		if !set {
			return
		}
		if b[i] == 'x' {
			b[i] = lower
		} else {
			b[i] = upper
		}
	}
	special(3, m&fs.ModeSetuid != 0, 's', 'S')
	special(6, m&fs.ModeSetgid != 0, 's', 'S')
	special(9, m&fs.ModeSticky != 0, 't', 'T')
	return string(b)
}

// contentTarget is a file a content test reads, resolved in the tree.
type contentTarget struct {
	path string // symlink-free
	n    *node
	err  error
}

func resolveContent(t *tree, p string) contentTarget {
	canon, n, err := t.stat(p, true)
	switch {
	case errors.Is(err, ErrNotDir) || (err == nil && n == nil):
		err = fmt.Errorf("%s does not exist", p)
	case err != nil:
	case !n.mode.IsRegular():
		err = fmt.Errorf("%s is not a regular file (%s)", p, lsMode(n.mode))
	case n.size > maxContent:
		err = fmt.Errorf("%s is larger than %d MiB", p, maxContent>>20)
	}
	return contentTarget{path: canon, n: n, err: err}
}

func fileContent(ft FileContentTest, target contentTarget, data []byte) evidence.Finding {
	f := newFinding(ft.Name, TypeFileContent, ft.Path)
	var why failures
	if target.err != nil {
		why.add("%v", target.err)
	} else {
		matchAll(&why, "contents", string(data), ft.ExpectedContents, ft.ExcludedContents)
	}
	why.settle(&f)
	return f
}

// matchAll checks text against regexes it must and must not match (validated by Suite.Validate).
func matchAll(why *failures, what, text string, expected, excluded []string) {
	for _, re := range expected {
		if m, err := regexp.MatchString(re, text); err != nil || !m {
			why.add("%s do not match %q", what, re)
		}
	}
	for _, re := range excluded {
		if m, err := regexp.MatchString(re, text); err != nil || m {
			why.add("%s match excluded %q", what, re)
		}
	}
}

// readContents returns the contents of regular files in the tree, reading only the layers that hold
// them, each once, in parallel.
func readContents(ctx context.Context, lr *imageref.LayerReader, layers []v1.Layer, files []*node) (map[*node][]byte, error) {
	byLayer := map[int]map[int][]*node{}
	seen := map[*node]bool{}
	for _, n := range files {
		if seen[n] {
			continue
		}
		seen[n] = true
		if byLayer[n.layer] == nil {
			byLayer[n.layer] = map[int][]*node{}
		}
		byLayer[n.layer][n.entry] = append(byLayer[n.layer][n.entry], n)
	}
	out := make(map[*node][]byte, len(files))
	results := make([]map[*node][]byte, len(layers))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for li, entries := range byLayer {
		if li < 0 || li >= len(layers) {
			return nil, fmt.Errorf("reading file contents: no layer %d", li)
		}
		g.Go(func() error {
			got, err := readEntries(ctx, lr, layers[li], entries)
			if err != nil {
				return fmt.Errorf("reading layer %d: %w", li, err)
			}
			results[li] = got
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for _, r := range results {
		for n, b := range r {
			out[n] = b
		}
	}
	return out, nil
}

func readEntries(ctx context.Context, lr *imageref.LayerReader, l v1.Layer, entries map[int][]*node) (map[*node][]byte, error) {
	out := map[*node][]byte{}
	err := lr.Read(ctx, l, func(tr *tar.Reader) error {
		for entry := 0; len(out) < countNodes(entries); entry++ {
			if entry%1024 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			hdr, err := tr.Next()
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("entry %d is missing: the layer changed while being read", entry)
			}
			if err != nil {
				return err
			}
			ns := entries[entry]
			if len(ns) == 0 {
				continue
			}
			if hdr.Size > maxContent {
				return fmt.Errorf("%s: larger than %d bytes", hdr.Name, maxContent)
			}
			b, err := io.ReadAll(io.LimitReader(tr, hdr.Size))
			if err != nil {
				return fmt.Errorf("%s: %w", hdr.Name, err)
			}
			for _, n := range ns {
				out[n] = b
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func countNodes(entries map[int][]*node) int {
	n := 0
	for _, ns := range entries {
		n += len(ns)
	}
	return n
}
