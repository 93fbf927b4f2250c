package deb_test

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/ulikunitz/xz"

	"github.com/ingot-build/ingot/internal/debtest"
	"github.com/ingot-build/ingot/internal/regtest"
	"github.com/ingot-build/ingot/pkg/deb"
)

// readAll lists every entry of a package's data with its body, as a build reads it.
func readAll(t *testing.T, data []byte) ([]string, error) {
	t.Helper()
	a, err := deb.Open(bytes.NewReader(data), int64(len(data)), deb.Limits{})
	if err != nil {
		return nil, err
	}
	dr, err := a.Data()
	if err != nil {
		return nil, err
	}
	defer dr.Close()
	var out []string
	for {
		e, err := dr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		body, err := io.ReadAll(dr)
		if err != nil {
			return out, err
		}
		out = append(out, fmt.Sprintf("%s %c %o %d %s %x", e.Path, e.Type, e.Mode, e.Size, e.Linkname, body))
	}
}

// TestXZProgram: the xz program and the Go decoder give the same entries and bytes, and a damaged
// stream is an error through either, not a shorter package.
func TestXZProgram(t *testing.T) {
	regtest.Peer(t, "xz")
	// Random words: compressible, so every chunk of the stream is LZMA-coded and damage anywhere
	// breaks the decoding, and large enough to be past any threshold.
	rng := rand.New(rand.NewPCG(1, 2))
	words := []string{"alpha ", "beta ", "gamma ", "delta ", "epsilon ", "zeta ", "eta ", "theta\n"}
	var text bytes.Buffer
	for text.Len() < 3<<20 {
		text.WriteString(words[rng.IntN(len(words))])
	}
	pkg, err := debtest.Build(debtest.Package{Name: "big", Version: "1", Compression: "xz", Files: []debtest.File{
		{Path: "usr/share/big/words", Body: text.Bytes()},
		{Path: "usr/share/big/words.link", Symlink: "words"},
		{Path: "usr/share/big/words.copy", Body: text.Bytes()[:1<<20]},
	}})
	if err != nil {
		t.Fatal(err)
	}
	deb.SetXZExternalMin(t, -1)
	inGo, err := readAll(t, pkg)
	if err != nil {
		t.Fatal(err)
	}
	if len(inGo) < 3 {
		t.Fatalf("the Go decoder read %d entries", len(inGo))
	}
	deb.SetXZExternalMin(t, 0)
	external, err := readAll(t, pkg)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(external, inGo) {
		t.Errorf("the xz program gave %d entries, the Go decoder %d, or their bytes differ", len(external), len(inGo))
	}

	// Damage the second half of the data member: both decoders must notice.
	i := bytes.LastIndex(pkg, []byte("data.tar.xz")) + 60
	bad := bytes.Clone(pkg)
	clear(bad[i+(len(bad)-i)/2:])
	for _, min := range []int64{-1, 0} {
		deb.SetXZExternalMin(t, min)
		if got, err := readAll(t, bad); !errors.Is(err, deb.ErrMalformed) {
			t.Errorf("threshold %d: damaged member read as %d entries, err %v; want ErrMalformed", min, len(got), err)
		}
	}

	// A stream that decodes to whole entries and then fails: the output alone looks like a shorter
	// package (a tar may end at any header), so only the program's exit status tells.
	var tarBuf bytes.Buffer
	tw := tar.NewWriter(&tarBuf)
	for _, h := range []*tar.Header{
		{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "./usr/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "./usr/words", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(text.Len())},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tw.Write(text.Bytes()); err != nil {
		t.Fatal(err)
	}
	if err := tw.Flush(); err != nil { // no end-of-archive blocks
		t.Fatal(err)
	}
	var member bytes.Buffer
	xw, err := xz.NewWriter(&member)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := xw.Write(tarBuf.Bytes()); err != nil {
		t.Fatal(err)
	}
	if err := xw.Close(); err != nil {
		t.Fatal(err)
	}
	member.WriteString("and then something that is not xz")
	cut := replaceData(t, pkg, "data.tar.xz", member.Bytes())
	for _, min := range []int64{-1, 0} {
		deb.SetXZExternalMin(t, min)
		if got, err := readAll(t, cut); !errors.Is(err, deb.ErrMalformed) {
			t.Errorf("threshold %d: a failing stream read as %d entries, err %v; want ErrMalformed", min, len(got), err)
		}
	}

	// A reader that stops early (as a build stops at the end-of-archive blocks) leaves no process.
	deb.SetXZExternalMin(t, 0)
	a, err := deb.Open(bytes.NewReader(pkg), int64(len(pkg)), deb.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	dr, err := a.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dr.Next(); err != nil {
		t.Fatal(err)
	}
	if err := dr.Close(); err != nil {
		t.Errorf("Close after a partial read: %v", err)
	}
}

// replaceData returns the .deb pkg with its data member replaced by one called name holding body.
func replaceData(t *testing.T, pkg []byte, name string, body []byte) []byte {
	t.Helper()
	out := []byte("!<arch>\n")
	off := len(out)
	for off+60 <= len(pkg) {
		h := pkg[off : off+60]
		size, err := strconv.Atoi(strings.TrimSpace(string(h[48:58])))
		if err != nil {
			t.Fatal(err)
		}
		memberName := strings.TrimSpace(string(h[:16]))
		data := pkg[off+60 : off+60+size]
		off += 60 + size + size%2
		if strings.HasPrefix(memberName, "data.tar") {
			memberName, data = name, body
		}
		out = fmt.Appendf(out, "%-16s%-12s%-6s%-6s%-8s%-10d`\n", memberName, "0", "0", "0", "100644", len(data))
		out = append(out, data...)
		if len(data)%2 == 1 {
			out = append(out, '\n')
		}
	}
	return out
}
