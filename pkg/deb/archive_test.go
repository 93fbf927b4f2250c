package deb_test

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ingot-build/ingot/internal/debtest"
	"github.com/ingot-build/ingot/internal/regtest"
	"github.com/ingot-build/ingot/pkg/deb"
)

// entry is an Entry plus the body Read returned, for comparing whole archives.
type entry struct {
	deb.Entry
	Body string
}

func openBytes(t *testing.T, b []byte, lim deb.Limits) (*deb.Archive, error) {
	t.Helper()
	return deb.Open(bytes.NewReader(b), int64(len(b)), lim)
}

// readData returns every entry of a's data tarball, without ModTime unless keepTime.
func readData(a *deb.Archive, keepTime bool) ([]entry, error) {
	d, err := a.Data()
	if err != nil {
		return nil, err
	}
	defer d.Close()
	var out []entry
	for {
		e, err := d.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		body, err := io.ReadAll(d)
		if err != nil {
			return out, err
		}
		if int64(len(body)) != e.Size {
			return out, fmt.Errorf("%s: read %d bytes, Size %d", e.Path, len(body), e.Size)
		}
		if !keepTime {
			e.ModTime = time.Time{}
		}
		out = append(out, entry{*e, string(body)})
	}
}

func dir(p string, mode int64) entry {
	return entry{Entry: deb.Entry{Path: p, Type: tar.TypeDir, Mode: mode}}
}

func file(p string, mode int64, body string) entry {
	return entry{Entry: deb.Entry{Path: p, Type: tar.TypeReg, Mode: mode, Size: int64(len(body))}, Body: body}
}

func link(p string, typ byte, target string, mode int64) entry {
	return entry{Entry: deb.Entry{Path: p, Type: typ, Mode: mode, Linkname: target}}
}

// TestDpkgDebFixtures reads archives written by dpkg-deb itself (see testdata/make-fixtures.sh).
func TestDpkgDebFixtures(t *testing.T) {
	tests := []struct {
		file       string
		control    map[string]string
		ctlFiles   map[string]string // "" body: must be absent
		entries    []entry
		wantModSec int64
	}{
		{
			file: "testdata/hello_1.0-1_amd64.deb",
			control: map[string]string{
				"Package": "hello", "Version": "1.0-1", "Depends": "libc6 (>= 2.34), dash | bash",
				"Description": "greeting fixture for ingot\nA tiny package built by make-fixtures.sh.\n.\nIt has a conffile and a symlink.",
			},
			ctlFiles: map[string]string{
				"conffiles":   "/etc/hello.conf\n",
				"./conffiles": "/etc/hello.conf\n",
				"md5sums": "801ef2bfa1ce9046be4eb650dabcc017  etc/hello.conf\n" +
					"d9ee44d59390c7097f20a0ec1c449048  usr/bin/hello\n" +
					"978334f181e62b69c14169be8ef927e0  usr/share/doc/hello/copyright\n",
				"postinst": "",
			},
			entries: []entry{
				dir("etc", 0o755),
				file("etc/hello.conf", 0o644, "greeting=hello\n"),
				dir("usr", 0o755),
				dir("usr/bin", 0o755),
				file("usr/bin/hello", 0o755, "#!/bin/sh\necho \"Hello, world!\"\n"),
				dir("usr/share", 0o755),
				dir("usr/share/doc", 0o755),
				dir("usr/share/doc/hello", 0o755),
				file("usr/share/doc/hello/copyright", 0o644, "This fixture is in the public domain.\n"),
				link("usr/bin/hi", tar.TypeSymlink, "hello", 0o777),
			},
			wantModSec: 1704164645,
		},
		{
			file:     "testdata/tiny_0.1-2+b1_all.deb",
			control:  map[string]string{"Package": "tiny", "Version": "1:0.1-2+b1", "Source": "tiny-src (0.1-2)"},
			ctlFiles: map[string]string{"md5sums": "", "conffiles": ""},
			entries: []entry{
				dir("usr", 0o755),
				dir("usr/sbin", 0o755),
				file("usr/sbin/tiny", 0o4755, "tiny\n"),
				link("usr/sbin/tiny-alias", tar.TypeLink, "usr/sbin/tiny", 0o4755),
				dir("var", 0o755),
				dir("var/lib", 0o755),
				dir("var/lib/tiny", 0o700),
			},
			wantModSec: 1704164645,
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b, err := os.ReadFile(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			a, err := openBytes(t, b, deb.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			c, err := a.Control()
			if err != nil {
				t.Fatal(err)
			}
			for k, want := range tt.control {
				if got := c.Get(k); got != want {
					t.Errorf("control %s = %q, want %q", k, got, want)
				}
			}
			for name, want := range tt.ctlFiles {
				got, ok, err := a.ControlFile(name)
				if err != nil {
					t.Fatal(err)
				}
				if want == "" && ok {
					t.Errorf("ControlFile(%q) found %q, want absent", name, got)
				}
				if want != "" && (!ok || string(got) != want) {
					t.Errorf("ControlFile(%q) = %q, %v; want %q", name, got, ok, want)
				}
			}
			got, err := readData(a, true)
			if err != nil {
				t.Fatal(err)
			}
			for i := range got {
				if s := got[i].ModTime.Unix(); s != tt.wantModSec {
					t.Errorf("%s ModTime = %d, want %d", got[i].Path, s, tt.wantModSec)
				}
				got[i].ModTime = time.Time{}
			}
			if !reflect.DeepEqual(got, tt.entries) {
				t.Errorf("entries =\n%+v\nwant\n%+v", got, tt.entries)
			}
		})
	}
}

func helloPackage() debtest.Package {
	return debtest.Package{
		Name: "hello", Version: "2.10-3", Depends: "libc6 (>= 2.34)",
		Files: []debtest.File{
			{Path: "usr/bin/hello", Mode: 0o755, Body: []byte("#!/bin/sh\necho hello\n")},
			{Path: "usr/bin/hi", Symlink: "/usr/bin/hello"},
			{Path: "usr/bin/hello2", Hardlink: "usr/bin/hello"},
			{Path: "usr/lib/big", Body: bytes.Repeat([]byte("0123456789abcdef"), 20_000)},
			{Path: "srv/x", Dir: true, Mode: 0o1777, UID: 33, GID: 33},
			{RawName: "/opt/abs", Body: []byte("absolute names become relative")},
			{RawName: "./opt/x/../y", Body: []byte("cleaned")},
		},
	}
}

func helloEntries() []entry {
	return []entry{
		dir("usr", 0o755),
		dir("usr/bin", 0o755),
		file("usr/bin/hello", 0o755, "#!/bin/sh\necho hello\n"),
		link("usr/bin/hi", tar.TypeSymlink, "/usr/bin/hello", 0o777),
		link("usr/bin/hello2", tar.TypeLink, "usr/bin/hello", 0o755),
		dir("usr/lib", 0o755),
		file("usr/lib/big", 0o644, strings.Repeat("0123456789abcdef", 20_000)),
		dir("srv", 0o755),
		{Entry: deb.Entry{Path: "srv/x", Type: tar.TypeDir, Mode: 0o1777, UID: 33, GID: 33}},
		file("opt/abs", 0o644, "absolute names become relative"),
		file("opt/y", 0o644, "cleaned"),
	}
}

// TestCompressions reads the same package in every compression dpkg-deb can write.
func TestCompressions(t *testing.T) {
	for _, c := range [][2]string{
		{"gz", "gz"}, {"xz", "gz"}, {"zst", "gz"}, {"none", "gz"}, {"bz2", "gz"},
		{"none", "xz"}, {"none", "zst"}, {"none", "none"}, {"xz", "xz"}, {"zst", "zst"},
	} {
		comp, ctlComp := c[0], c[1]
		t.Run(comp+"/"+ctlComp, func(t *testing.T) {
			p := helloPackage()
			p.ControlCompression = ctlComp
			var b []byte
			if comp == "bz2" {
				b = withBzip2Data(t, p)
			} else {
				p.Compression = comp
				b = debtest.MustBuild(t, p)
			}
			a, err := openBytes(t, b, deb.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			c, err := a.Control()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c, debtest.ControlParagraph(p)) {
				t.Errorf("Control() = %v, want %v", c, debtest.ControlParagraph(p))
			}
			got, err := readData(a, false)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, helloEntries()) {
				t.Errorf("entries =\n%+v\nwant\n%+v", got, helloEntries())
			}
		})
	}
}

// withBzip2Data rebuilds p's .deb with data.tar.bz2, which Go cannot write, using bzip2(1).
func withBzip2Data(t *testing.T, p debtest.Package) []byte {
	t.Helper()
	bz := regtest.Peer(t, "bzip2")
	p.Compression = "none"
	members := splitAr(t, debtest.MustBuild(t, p))
	cmd := exec.Command(bz, "-c")
	cmd.Stdin = bytes.NewReader(members["data.tar"])
	data, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	out := []byte("!<arch>\n")
	out = append(out, debtest.ArMember("debian-binary", members["debian-binary"])...)
	for name, body := range members {
		if strings.HasPrefix(name, "control.tar") {
			out = append(out, debtest.ArMember(name, body)...)
		}
	}
	return append(out, debtest.ArMember("data.tar.bz2", data)...)
}

// splitAr is a deliberately naive ar reader for well-formed test archives.
func splitAr(t testing.TB, b []byte) map[string][]byte {
	t.Helper()
	m := map[string][]byte{}
	b = b[8:]
	for len(b) > 0 {
		name := strings.TrimRight(string(b[:16]), " ")
		var size int
		if _, err := fmt.Sscan(string(b[48:58]), &size); err != nil {
			t.Fatal(err)
		}
		m[name] = b[60 : 60+size]
		b = b[60+size+size%2:]
	}
	return m
}

func ar(members ...[]byte) []byte {
	return append([]byte("!<arch>\n"), bytes.Join(members, nil)...)
}

func tarball(t *testing.T, hdrs ...*tar.Header) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, h := range hdrs {
		if h.Typeflag == tar.TypeReg && h.Size == 0 {
			h.Size = int64(len(h.Name))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write([]byte(h.Name)[:h.Size]); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestOpenMalformed(t *testing.T) {
	good := splitAr(t, debtest.MustBuild(t, debtest.Package{Name: "x", Version: "1", Files: []debtest.File{{Path: "x", Body: []byte("x")}}}))
	binary := debtest.ArMember("debian-binary", []byte("2.0\n"))
	control := debtest.ArMember("control.tar.gz", good["control.tar.gz"])
	data := debtest.ArMember("data.tar.gz", good["data.tar.gz"])
	whole := ar(binary, control, data)
	header := func(name, size, end string) []byte {
		return fmt.Appendf(nil, "%-16s%-12d%-6d%-6d%-8s%-10s%s", name, 0, 0, 0, "100644", size, end)
	}
	tests := []struct {
		name, want string
		in         []byte
	}{
		{"empty", "not an ar archive", nil},
		{"not ar", "not an ar archive", []byte("PK\x03\x04 not a deb at all")},
		{"magic only", "no debian-binary", []byte("!<arch>\n")},
		{"truncated header", "truncated member header", whole[:8+30]},
		{"truncated member", `member "data.tar.gz": `, whole[:len(whole)-10]},
		{"bad terminator", "bad header terminator", ar(header("debian-binary", "4", "x\n"), []byte("2.0\n"))},
		{"size not a number", `size field "4x"`, ar(header("debian-binary", "4x", "`\n"), []byte("2.0\n"))},
		{"negative size", `size field "-4"`, ar(header("debian-binary", "-4", "`\n"), []byte("2.0\n"))},
		{"empty size", "empty size field", ar(header("debian-binary", "", "`\n"))},
		{"huge size", "declared", ar(header("debian-binary", "9999999999", "`\n"), []byte("2.0\n"))},
		{"wrong first member", `first member is "control.tar.gz"`, ar(control, binary, data)},
		{"format 1", "unsupported debian-binary", ar(debtest.ArMember("debian-binary", []byte("1.0\n")), control, data)},
		{"format 3", "unsupported debian-binary", ar(debtest.ArMember("debian-binary", []byte("3.0\n")), control, data)},
		{"no newline", "unsupported debian-binary", ar(debtest.ArMember("debian-binary", []byte("2.0")), control, data)},
		{"big debian-binary", "debian-binary is", ar(debtest.ArMember("debian-binary", bytes.Repeat([]byte("2.0\n"), 2000)), control, data)},
		{"no control", "no control.tar", ar(binary)},
		{"no data", "no data.tar", ar(binary, control)},
		{"data before control", `"data.tar.gz" where control.tar`, ar(binary, data, control)},
		{"unknown member", `"foo.tar" where data.tar`, ar(binary, control, debtest.ArMember("foo.tar", nil), data)},
		{"control.tar.bz2", `"control.tar.bz2" where control.tar`, ar(binary, debtest.ArMember("control.tar.bz2", nil), data)},
		{"data.tar.lz4", `"data.tar.lz4" where data.tar`, ar(binary, control, debtest.ArMember("data.tar.lz4", nil))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := openBytes(t, tt.in, deb.Limits{})
			if !errors.Is(err, deb.ErrMalformed) {
				t.Fatalf("Open err = %v, want ErrMalformed", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open err = %q, want it to mention %q", err, tt.want)
			}
		})
	}
}

// TestOpenTolerated covers container variations dpkg accepts.
func TestOpenTolerated(t *testing.T) {
	good := splitAr(t, debtest.MustBuild(t, debtest.Package{Name: "x", Version: "1", Files: []debtest.File{{Path: "x", Body: []byte("x")}}}))
	control := debtest.ArMember("control.tar.gz", good["control.tar.gz"])
	data := debtest.ArMember("data.tar.gz", good["data.tar.gz"])
	gnuName := func(name string, body []byte) []byte {
		m := debtest.ArMember(name, body)
		copy(m[len(name):], "/")
		return m
	}
	for name, in := range map[string][]byte{
		"minor version and extra lines": ar(debtest.ArMember("debian-binary", []byte("2.1\nfuture\n")), control, data),
		"odd-sized underscore member":   ar(debtest.ArMember("debian-binary", []byte("2.0\n")), debtest.ArMember("_gpgorigin", []byte("sig")), control, data),
		"trailing member":               ar(debtest.ArMember("debian-binary", []byte("2.0\n")), control, data, debtest.ArMember("zzz", []byte("odd"))),
		"GNU ar names":                  ar(gnuName("debian-binary", []byte("2.0\n")), gnuName("control.tar.gz", good["control.tar.gz"]), gnuName("data.tar.gz", good["data.tar.gz"])),
	} {
		t.Run(name, func(t *testing.T) {
			a, err := openBytes(t, in, deb.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if c, err := a.Control(); err != nil || c.Get("Package") != "x" {
				t.Errorf("Control() = %v, %v", c, err)
			}
			if got, err := readData(a, false); err != nil || len(got) != 1 || got[0].Body != "x" {
				t.Errorf("data = %+v, %v", got, err)
			}
		})
	}
}

func TestControlMalformed(t *testing.T) {
	binary := debtest.ArMember("debian-binary", []byte("2.0\n"))
	good := splitAr(t, debtest.MustBuild(t, debtest.Package{Name: "x", Version: "1"}))
	data := debtest.ArMember("data.tar.gz", good["data.tar.gz"])
	reg := func(name string) *tar.Header { return &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644} }
	tests := []struct {
		name, want string
		err        error
		control    []byte
	}{
		{"no control file", "has no control file", deb.ErrMalformed, tarball(t, reg("./md5sums"))},
		{"duplicate", `duplicate entry "control"`, deb.ErrMalformed, tarball(t, reg("./control"), reg("control"))},
		{"escaping name", "escapes the root", deb.ErrUnsafePath, tarball(t, reg("../control"))},
		{"bad paragraph", "control file", deb.ErrMalformed, tarball(t, &tar.Header{Name: "./control", Typeflag: tar.TypeReg, Size: 3})},
		{"truncated", "control.tar", deb.ErrMalformed, tarball(t, reg("./control"))[:515]},
		{"not a tarball", "control.tar", deb.ErrMalformed, []byte("this is not tar data, not at all, no. this is not tar data, not at all, no. this is not tar data, not at all, no. this is not tar data, not at all, no. this is not tar data, not at all, no. this is not tar data, not at all, no. this is not tar data, not at all, no. this is not tar data, not at all, no. this is not tar data, not at all, no. this is not tar data, not at all, no. this is not tar data, not at all, no. this is not tar data, not at all, no. this is not tar data, not at all, no. this is not tar data, not at all, no. this is not tar data, not at all, no. this is not tar data, not at all, no.")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := openBytes(t, ar(binary, debtest.ArMember("control.tar", tt.control), data), deb.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			_, err = a.Control()
			if !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Control() err = %v, want %v mentioning %q", err, tt.err, tt.want)
			}
			if _, _, err2 := a.ControlFile("md5sums"); tt.name != "bad paragraph" && !errors.Is(err2, tt.err) {
				t.Errorf("ControlFile err = %v, want %v", err2, tt.err)
			}
		})
	}
	t.Run("corrupt gzip", func(t *testing.T) {
		a, err := openBytes(t, ar(binary, debtest.ArMember("control.tar.gz", []byte("\x1f\x8bnot really")), data), deb.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Control(); !errors.Is(err, deb.ErrMalformed) {
			t.Errorf("Control() err = %v, want ErrMalformed", err)
		}
	})
}

func TestUnsafePaths(t *testing.T) {
	tests := []struct {
		name string
		file debtest.File
	}{
		{"dot-dot", debtest.File{RawName: "../etc/passwd", Body: []byte("x")}},
		{"dot-dot inside", debtest.File{RawName: "./usr/../../etc/passwd", Body: []byte("x")}},
		{"absolute dot-dot", debtest.File{RawName: "/../etc/passwd", Body: []byte("x")}},
		{"bare dot-dot dir", debtest.File{RawName: "..", Dir: true}},
		{"hardlink escapes", debtest.File{Path: "usr/x", Hardlink: "../../etc/shadow"}},
		{"hardlink to root", debtest.File{Path: "usr/x", Hardlink: "./"}},
		{"file as root", debtest.File{RawName: ".", Body: []byte("x")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := debtest.Package{Name: "evil", Version: "1", Files: []debtest.File{{Path: "ok", Body: []byte("fine")}, tt.file}}
			a, err := openBytes(t, debtest.MustBuild(t, p), deb.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := readData(a, false)
			if !errors.Is(err, deb.ErrUnsafePath) {
				t.Fatalf("err = %v, want ErrUnsafePath", err)
			}
			if len(got) == 0 || got[0].Path != "ok" {
				t.Errorf("entries before the bad one = %+v", got)
			}
			for _, e := range got {
				if e.Path != "ok" && e.Path != "usr" {
					t.Errorf("returned entry %+v", e)
				}
			}
		})
	}
}

func TestLimits(t *testing.T) {
	many := debtest.Package{Name: "many", Version: "1"}
	for i := range 100 {
		many.Files = append(many.Files, debtest.File{Path: fmt.Sprintf("f%03d", i)})
	}
	bomb := debtest.Package{Name: "bomb", Version: "1", Compression: "zst", Files: []debtest.File{
		{Path: "small", Body: []byte("fine")},
		{Path: "zeros", Body: make([]byte, 8<<20)},
	}}
	bigControl := debtest.Package{Name: "x", Version: "1",
		ExtraControl: []deb.Field{{Name: "X-Big", Value: strings.Repeat("y", 1<<20)}}}
	tests := []struct {
		name    string
		p       debtest.Package
		lim     deb.Limits
		entries int // read before the error
	}{
		{"entries", many, deb.Limits{MaxEntries: 50}, 49},            // the root counts
		{"tar overhead", many, deb.Limits{MaxDataSize: 8 << 10}, 15}, // the root and 15 empty files fill 8 KiB
		{"declared size", bomb, deb.Limits{MaxDataSize: 1 << 20}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := openBytes(t, debtest.MustBuild(t, tt.p), tt.lim)
			if err != nil {
				t.Fatal(err)
			}
			got, err := readData(a, false)
			if !errors.Is(err, deb.ErrTooLarge) {
				t.Fatalf("err = %v, want ErrTooLarge", err)
			}
			if len(got) != tt.entries {
				t.Errorf("read %d entries before the error, want %d", len(got), tt.entries)
			}
		})
	}
	t.Run("within limits", func(t *testing.T) {
		a, err := openBytes(t, debtest.MustBuild(t, bomb), deb.Limits{MaxDataSize: 9 << 20, MaxEntries: 3})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := readData(a, false); err != nil || len(got) != 2 {
			t.Errorf("got %d entries, %v", len(got), err)
		}
	})
	t.Run("control", func(t *testing.T) {
		a, err := openBytes(t, debtest.MustBuild(t, bigControl), deb.Limits{MaxControlSize: 64 << 10})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Control(); !errors.Is(err, deb.ErrTooLarge) {
			t.Errorf("Control() err = %v, want ErrTooLarge", err)
		}
		a, err = openBytes(t, debtest.MustBuild(t, bigControl), deb.Limits{MaxControlSize: 2 << 20})
		if err != nil {
			t.Fatal(err)
		}
		if c, err := a.Control(); err != nil || len(c.Get("X-Big")) != 1<<20 {
			t.Errorf("Control() = %d bytes of X-Big, %v", len(c.Get("X-Big")), err)
		}
	})
}

func TestDataTruncated(t *testing.T) {
	for _, comp := range []string{"gz", "xz", "zst", "none"} {
		t.Run(comp, func(t *testing.T) {
			p := helloPackage()
			p.Compression = comp
			m := splitAr(t, debtest.MustBuild(t, p))
			name := "data.tar"
			if comp != "none" {
				name += "." + comp
			}
			body := m[name]
			in := ar(debtest.ArMember("debian-binary", m["debian-binary"]), debtest.ArMember("control.tar.gz", m["control.tar.gz"]),
				debtest.ArMember(name, body[:len(body)*2/3]))
			a, err := openBytes(t, in, deb.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := readData(a, false); !errors.Is(err, deb.ErrMalformed) {
				t.Errorf("err = %v, want ErrMalformed", err)
			}
		})
	}
}

// TestDataSpecialFiles covers tar types debtest does not write.
func TestDataSpecialFiles(t *testing.T) {
	mk := func(hdrs ...*tar.Header) *deb.Archive {
		good := splitAr(t, debtest.MustBuild(t, debtest.Package{Name: "x", Version: "1"}))
		a, err := openBytes(t, ar(debtest.ArMember("debian-binary", []byte("2.0\n")),
			debtest.ArMember("control.tar.gz", good["control.tar.gz"]),
			debtest.ArMember("data.tar", tarball(t, hdrs...))), deb.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	got, err := readData(mk(
		&tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755},
		&tar.Header{Typeflag: tar.TypeXGlobalHeader, PAXRecords: map[string]string{"comment": "x"}, Format: tar.FormatPAX},
		&tar.Header{Name: "./dev/null", Typeflag: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 3},
		&tar.Header{Name: "./run/fifo", Typeflag: tar.TypeFifo, Mode: 0o600},
		&tar.Header{Name: "/dev/sda", Typeflag: tar.TypeBlock, Mode: 0o660, Devmajor: 8, Gid: 6},
	), false)
	if err != nil {
		t.Fatal(err)
	}
	want := []entry{
		{Entry: deb.Entry{Path: "dev/null", Type: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 3}},
		{Entry: deb.Entry{Path: "run/fifo", Type: tar.TypeFifo, Mode: 0o600}},
		{Entry: deb.Entry{Path: "dev/sda", Type: tar.TypeBlock, Mode: 0o660, Devmajor: 8, GID: 6}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("entries =\n%+v\nwant\n%+v", got, want)
	}
	for name, h := range map[string]*tar.Header{
		"continuous file": {Name: "x", Typeflag: tar.TypeCont},
		"empty symlink":   {Name: "x", Typeflag: tar.TypeSymlink},
	} {
		if _, err := readData(mk(h), false); !errors.Is(err, deb.ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}

func TestDataReaderClose(t *testing.T) {
	a, err := openBytes(t, debtest.MustBuild(t, helloPackage()), deb.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := a.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Next(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Next(); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("Next after Close: %v", err)
	}
	if _, err := d.Read(make([]byte, 1)); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("Read after Close: %v", err)
	}
	// Data streams afresh.
	if got, err := readData(a, false); err != nil || !reflect.DeepEqual(got, helloEntries()) {
		t.Errorf("second Data: %+v, %v", got, err)
	}
}

func BenchmarkData(b *testing.B) {
	// Text-like content compresses like a typical package: about 8 MiB in 64 files.
	body := make([]byte, 128<<10)
	for i := range body {
		body[i] = "abcdefghij klmnop\n0123"[(i*7+i/13)%22]
	}
	p := debtest.Package{Name: "bench", Version: "1"}
	for i := range 64 {
		p.Files = append(p.Files, debtest.File{Path: fmt.Sprintf("usr/share/bench/%02d", i), Body: body})
	}
	for _, comp := range []string{"gz", "xz", "zst", "none"} {
		p.Compression = comp
		data := debtest.MustBuild(b, p)
		b.Run(comp, func(b *testing.B) {
			b.SetBytes(int64(len(body) * len(p.Files)))
			for b.Loop() {
				a, err := deb.Open(bytes.NewReader(data), int64(len(data)), deb.Limits{})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := readData(a, false); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// eofAtEnd is an io.ReaderAt that, as the interface allows, reports io.EOF with a read that reaches
// the end of the input.
type eofAtEnd struct{ b []byte }

func (r eofAtEnd) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(r.b)) {
		return 0, io.EOF
	}
	n := copy(p, r.b[off:])
	if off+int64(n) == int64(len(r.b)) {
		return n, io.EOF
	}
	return n, nil
}

func TestOpenReaderAtEOF(t *testing.T) {
	b := debtest.MustBuild(t, helloPackage())
	a, err := deb.Open(eofAtEnd{b}, int64(len(b)), deb.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := readData(a, false); err != nil || !reflect.DeepEqual(got, helloEntries()) {
		t.Errorf("entries = %+v, %v", got, err)
	}
	if _, err := deb.Open(eofAtEnd{b[:100]}, int64(len(b)), deb.Limits{}); !errors.Is(err, deb.ErrMalformed) {
		t.Errorf("Open with a size past the end: %v, want ErrMalformed", err)
	}
}
