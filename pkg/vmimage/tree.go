package vmimage

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"golang.org/x/sys/unix"
)

// clampTimes sets every entry's modification time to at most epoch, and its access time to its
// modification time, without following symlinks. mkfs.ext4 -d copies both from the tree, so without
// this a file a maintainer script wrote during the build, or one merely read, would differ between
// two builds.
//
// It returns the tree's paths, relative to root, in walk order.
func clampTimes(root string, epoch time.Time) ([]string, error) {
	// Listed first, then set: listing a directory updates its access time, so setting a directory's
	// times while walking it would be undone by the walk itself.
	var paths []string
	if err := filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		paths = append(paths, p)
		return err
	}); err != nil {
		return nil, fmt.Errorf("clamping times: %w", err)
	}
	rel := make([]string, 0, len(paths))
	for _, p := range paths {
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return nil, fmt.Errorf("clamping times: %w", err)
		}
		mtime := time.Unix(st.Mtim.Unix())
		if mtime.After(epoch) {
			mtime = epoch
		}
		ts := unix.NsecToTimespec(mtime.UnixNano())
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return nil, fmt.Errorf("clamping times of %s: %w", p, err)
		}
		r, err := filepath.Rel(root, p)
		if err != nil {
			return nil, err
		}
		rel = append(rel, filepath.ToSlash(r))
	}
	return rel, nil
}

// ManifestEntry is one file of the root file system as the disk holds it.
type ManifestEntry struct {
	Path   string `json:"path"`
	Mode   string `json:"mode"`
	UID    uint32 `json:"uid"`
	GID    uint32 `json:"gid"`
	Size   int64  `json:"size,omitempty"`
	SHA256 string `json:"sha256,omitempty"` // regular files
	Target string `json:"target,omitempty"` // symlinks
	MTime  int64  `json:"mtime"`
}

// manifest lists the tree in path order: two builds whose root file systems differ are compared by
// it, which names the files that differ.
func manifest(root string) ([]ManifestEntry, error) {
	var out []ManifestEntry
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		e := ManifestEntry{Path: "/" + filepath.ToSlash(rel), Mode: fmt.Sprintf("%07o", st.Mode), UID: st.Uid, GID: st.Gid, MTime: st.Mtim.Sec}
		if rel == "." {
			e.Path = "/"
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			e.Size = st.Size
			if e.SHA256, err = fileSHA256(p); err != nil {
				return err
			}
		case unix.S_IFLNK:
			if e.Target, err = os.Readlink(p); err != nil {
				return err
			}
		}
		out = append(out, e)
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, err
}

func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// DiffManifests names the paths whose entries differ between two builds' manifests.
func DiffManifests(a, b []ManifestEntry) []string {
	am := map[string]ManifestEntry{}
	for _, e := range a {
		am[e.Path] = e
	}
	var out []string
	seen := map[string]bool{}
	for _, e := range b {
		seen[e.Path] = true
		if o, ok := am[e.Path]; !ok || o != e {
			out = append(out, e.Path)
		}
	}
	for _, e := range a {
		if !seen[e.Path] {
			out = append(out, e.Path)
		}
	}
	sort.Strings(out)
	return out
}
