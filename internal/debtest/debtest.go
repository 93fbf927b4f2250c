package debtest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/md5" //nolint:gosec // md5sums is the Debian format, not a security check
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/ingot-build/ingot/pkg/deb"
)

// ErrInvalid is wrapped by Build errors about the Package description itself.
var ErrInvalid = errors.New("debtest: invalid package")

// File is one entry of a package's data.tar.
type File struct {
	Path     string // "usr/bin/hello" (no leading "./"; parent directories are added automatically)
	Mode     int64  // permission bits incl. setuid/setgid/sticky; default 0644 for files, 0755 for dirs
	Body     []byte
	Symlink  string // non-empty: a symlink with this target
	Hardlink string // non-empty: a hardlink to this path (package-relative, like Path); Mode defaults to the target's
	Dir      bool
	UID, GID int
	ModTime  time.Time // default: DefaultModTime
	RawName  string    // if set, written verbatim as the tar name and no parents are added (hostile fixtures)
}

// Package describes the .deb Build writes.
type Package struct {
	Name, Version, Arch                                                            string // Arch default "amd64"
	Source                                                                         string // "src" or "src (1.0-1)"; omitted when empty
	Depends, PreDepends, Provides, Conflicts, Breaks, Priority, Section, MultiArch string
	Files                                                                          []File
	Compression                                                                    string // data.tar compression: "gz" (default), "xz", "zst", "none"
	ControlCompression                                                             string // control.tar compression, same choices; default "gz"
	// ExtraControl fields are added before Description; one named like a standard field replaces it.
	ExtraControl []deb.Field
	SkipMD5Sums  bool // omit the md5sums control file (written by default)
}

// DefaultModTime is the modification time of entries that do not set one, so builds are reproducible.
func DefaultModTime() time.Time { return time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC) }

// ControlParagraph returns the control file Build writes for p: Package, Source, Version, Architecture,
// Maintainer, Installed-Size, the relationship fields that are set, Section, Priority, Multi-Arch,
// ExtraControl and Description.
func ControlParagraph(p Package) deb.Paragraph {
	var c deb.Paragraph
	add := func(name, value string) {
		if value != "" {
			c.Fields = append(c.Fields, deb.Field{Name: name, Value: value})
		}
	}
	add("Package", p.Name)
	add("Source", p.Source)
	add("Version", p.Version)
	add("Architecture", arch(p))
	add("Maintainer", "ingot tests <tests@example.org>")
	add("Installed-Size", strconv.FormatInt(installedSize(p.Files), 10))
	add("Pre-Depends", p.PreDepends)
	add("Depends", p.Depends)
	add("Provides", p.Provides)
	add("Conflicts", p.Conflicts)
	add("Breaks", p.Breaks)
	add("Section", p.Section)
	add("Priority", p.Priority)
	add("Multi-Arch", p.MultiArch)
	desc := deb.Field{Name: "Description", Value: "test package " + p.Name + "\nbuilt by ingot's debtest"}
outer:
	for _, f := range p.ExtraControl {
		for i := range c.Fields {
			if strings.EqualFold(c.Fields[i].Name, f.Name) {
				c.Fields[i].Value = f.Value
				continue outer
			}
		}
		if strings.EqualFold(f.Name, desc.Name) {
			desc.Value = f.Value
			continue
		}
		c.Fields = append(c.Fields, f)
	}
	c.Fields = append(c.Fields, desc)
	return c
}

func arch(p Package) string {
	if p.Arch == "" {
		return "amd64"
	}
	return p.Arch
}

// installedSize follows dpkg-gencontrol: regular files count their size in KiB rounded up, every
// other entry one KiB.
func installedSize(files []File) int64 {
	var kib int64
	for _, f := range files {
		if f.Dir || f.Symlink != "" || f.Hardlink != "" {
			kib++
			continue
		}
		kib += (int64(len(f.Body)) + 1023) / 1024
	}
	return kib
}

// Build returns a real .deb for p: an ar archive holding "debian-binary" ("2.0\n"), control.tar.gz
// (control and md5sums) and data.tar.<Compression>, with tar entries named "./...".
func Build(p Package) ([]byte, error) {
	if p.Name == "" || p.Version == "" {
		return nil, fmt.Errorf("%w: Name and Version are required", ErrInvalid)
	}
	data, md5sums, err := dataTar(p.Files)
	if err != nil {
		return nil, fmt.Errorf("building data.tar of %s: %w", p.Name, err)
	}
	dataName, dataBytes, err := compress("data.tar", p.Compression, data)
	if err != nil {
		return nil, fmt.Errorf("building data.tar of %s: %w", p.Name, err)
	}
	var control bytes.Buffer
	if _, err := ControlParagraph(p).WriteTo(&control); err != nil {
		return nil, fmt.Errorf("writing control of %s: %w", p.Name, err)
	}
	members := []tarMember{{name: "control", body: control.Bytes()}}
	if !p.SkipMD5Sums {
		members = append(members, tarMember{name: "md5sums", body: md5sums})
	}
	ctl, err := controlTar(members)
	if err != nil {
		return nil, fmt.Errorf("building control.tar of %s: %w", p.Name, err)
	}
	ctlName, ctlBytes, err := compress("control.tar", p.ControlCompression, ctl)
	if err != nil {
		return nil, fmt.Errorf("building control.tar of %s: %w", p.Name, err)
	}
	var out bytes.Buffer
	out.WriteString("!<arch>\n")
	for _, m := range []tarMember{
		{name: "debian-binary", body: []byte("2.0\n")},
		{name: ctlName, body: ctlBytes},
		{name: dataName, body: dataBytes},
	} {
		writeArMember(&out, m.name, m.body)
	}
	return out.Bytes(), nil
}

// MustBuild is Build for tests: it fails t on error.
func MustBuild(t testing.TB, p Package) []byte {
	t.Helper()
	b, err := Build(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ArMember formats one ar member (header, body and padding) as dpkg-deb writes it, for tests that
// assemble malformed archives by hand.
func ArMember(name string, body []byte) []byte {
	var b bytes.Buffer
	writeArMember(&b, name, body)
	return b.Bytes()
}

func writeArMember(w *bytes.Buffer, name string, body []byte) {
	fmt.Fprintf(w, "%-16s%-12d%-6d%-6d%-8s%-10d`\n", name, DefaultModTime().Unix(), 0, 0, "100644", len(body))
	w.Write(body)
	if len(body)%2 == 1 {
		w.WriteByte('\n')
	}
}

type tarMember struct {
	name string
	body []byte
}

func controlTar(members []tarMember) ([]byte, error) {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	mt := DefaultModTime()
	hdrs := []*tar.Header{{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mt}}
	for _, m := range members {
		hdrs = append(hdrs, &tar.Header{Name: "./" + m.name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(m.body)), ModTime: mt})
	}
	for i, h := range hdrs {
		fillOwner(h, 0, 0)
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if i > 0 {
			if _, err := tw.Write(members[i-1].body); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func fillOwner(h *tar.Header, uid, gid int) {
	h.Uid, h.Gid = uid, gid
	h.Uname, h.Gname = "root", "root"
	if uid != 0 {
		h.Uname = ""
	}
	if gid != 0 {
		h.Gname = ""
	}
	h.Format = tar.FormatGNU
}

// dataTar writes the data.tar and returns it with the md5sums control file for its regular files.
func dataTar(files []File) ([]byte, []byte, error) {
	var b, sums bytes.Buffer
	tw := tar.NewWriter(&b)
	explicitDirs := map[string]File{}
	for _, f := range files {
		if f.Dir && f.RawName == "" {
			explicitDirs[strings.Trim(f.Path, "/")] = f
		}
	}
	written := map[string]bool{}
	modes := map[string]int64{} // of regular files, the default mode of hardlinks to them
	write := func(name string, f File, h *tar.Header) error {
		if f.ModTime.IsZero() {
			h.ModTime = DefaultModTime()
		} else {
			h.ModTime = f.ModTime
		}
		fillOwner(h, f.UID, f.GID)
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("writing %s: %w", name, err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(f.Body); err != nil {
				return fmt.Errorf("writing %s: %w", name, err)
			}
		}
		return nil
	}
	var dir func(p string) error
	dir = func(p string) error {
		if p == "." || p == "" || written[p] {
			return nil
		}
		if err := dir(path.Dir(p)); err != nil {
			return err
		}
		written[p] = true
		f := explicitDirs[p]
		mode := f.Mode
		if mode == 0 {
			mode = 0o755
		}
		return write(p, f, &tar.Header{Name: "./" + p + "/", Typeflag: tar.TypeDir, Mode: mode})
	}
	if err := write(".", File{}, &tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
		return nil, nil, err
	}
	for _, f := range files {
		if f.RawName != "" {
			h := header(f)
			h.Name = f.RawName
			if err := write(f.RawName, f, h); err != nil {
				return nil, nil, err
			}
			continue
		}
		p := strings.Trim(f.Path, "/")
		if p == "" || strings.HasPrefix(p, "./") {
			return nil, nil, fmt.Errorf("%w: file path %q (use RawName for unusual names)", ErrInvalid, f.Path)
		}
		if f.Dir {
			if err := dir(p); err != nil {
				return nil, nil, err
			}
			continue
		}
		if err := dir(path.Dir(p)); err != nil {
			return nil, nil, err
		}
		h := header(f)
		h.Name = "./" + p
		if h.Typeflag == tar.TypeLink && f.Mode == 0 {
			if m, ok := modes[strings.Trim(f.Hardlink, "/")]; ok {
				h.Mode = m
			}
		}
		if h.Typeflag == tar.TypeReg {
			modes[p] = h.Mode
		}
		if err := write(p, f, h); err != nil {
			return nil, nil, err
		}
		if h.Typeflag == tar.TypeReg {
			fmt.Fprintf(&sums, "%x  %s\n", md5.Sum(f.Body), p) //nolint:gosec // Debian md5sums format
		}
	}
	if err := tw.Close(); err != nil {
		return nil, nil, err
	}
	return b.Bytes(), sums.Bytes(), nil
}

func header(f File) *tar.Header {
	switch {
	case f.Dir:
		mode := f.Mode
		if mode == 0 {
			mode = 0o755
		}
		return &tar.Header{Typeflag: tar.TypeDir, Mode: mode}
	case f.Symlink != "":
		return &tar.Header{Typeflag: tar.TypeSymlink, Linkname: f.Symlink, Mode: 0o777}
	case f.Hardlink != "":
		mode := f.Mode
		if mode == 0 {
			mode = 0o644
		}
		link := f.Hardlink
		if !strings.HasPrefix(link, "./") && !strings.HasPrefix(link, "/") && !strings.HasPrefix(link, "../") {
			link = "./" + link
		}
		return &tar.Header{Typeflag: tar.TypeLink, Linkname: link, Mode: mode}
	}
	mode := f.Mode
	if mode == 0 {
		mode = 0o644
	}
	return &tar.Header{Typeflag: tar.TypeReg, Mode: mode, Size: int64(len(f.Body))}
}

// compress returns the member name and bytes of tarball compressed with method.
func compress(base, method string, tarball []byte) (string, []byte, error) {
	var b bytes.Buffer
	var w io.WriteCloser
	switch method {
	case "", "gz":
		base += ".gz"
		gw, err := gzip.NewWriterLevel(&b, gzip.BestCompression)
		if err != nil {
			return "", nil, err
		}
		w = gw
	case "xz":
		base += ".xz"
		xw, err := xz.NewWriter(&b)
		if err != nil {
			return "", nil, err
		}
		w = xw
	case "zst":
		base += ".zst"
		zw, err := zstd.NewWriter(&b, zstd.WithEncoderConcurrency(1))
		if err != nil {
			return "", nil, err
		}
		w = zw
	case "none":
		return base, tarball, nil
	default:
		return "", nil, fmt.Errorf("%w: compression %q (want gz, xz, zst or none)", ErrInvalid, method)
	}
	if _, err := w.Write(tarball); err != nil {
		return "", nil, fmt.Errorf("compressing %s: %w", base, err)
	}
	if err := w.Close(); err != nil {
		return "", nil, fmt.Errorf("compressing %s: %w", base, err)
	}
	return base, b.Bytes(), nil
}
