package extproc

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"testing"
)

// gzipped compresses b.
func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// failingAtEnd gives r's bytes, then err instead of io.EOF: an input whose check fails at its end.
type failingAtEnd struct {
	r   io.Reader
	err error
}

func (f failingAtEnd) Read(b []byte) (int, error) {
	n, err := f.r.Read(b)
	if errors.Is(err, io.EOF) {
		return n, f.err
	}
	return n, err
}

func gunzip(t *testing.T) string {
	t.Helper()
	prog := Program("gzip")()
	if prog == "" {
		t.Skip("gzip is not on PATH")
	}
	return prog
}

var gunzipArgs = []string{"-d", "-c"}

// TestProcess: the output whole; a stream the program refuses is an error at the end, never a short
// stream; an input that fails at its end fails the output with its own error, first; a process
// stopped part-way is stopped, and the input it did not read can still be read to its end.
func TestProcess(t *testing.T) {
	prog := gunzip(t)
	data := bytes.Repeat([]byte("golden image "), 1<<16)
	z := gzipped(t, data)

	p, err := Start(prog, gunzipArgs, bytes.NewReader(z))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(p)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("whole stream: %d bytes, %v", len(got), err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("Close after the end: %v", err)
	}

	p, err = Start(prog, gunzipArgs, bytes.NewReader(z[:len(z)/2]))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(p); err == nil || !strings.HasPrefix(err.Error(), "gzip: ") {
		t.Errorf("a truncated stream: %v, want the program's failure", err)
	}

	bad := errors.New("the input does not match its digest")
	p, err = Start(prog, gunzipArgs, failingAtEnd{bytes.NewReader(z), bad})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(p); !errors.Is(err, bad) {
		t.Errorf("an input failing at its end: %v, want its error", err)
	}

	// Stopped after a little of the output: Rest reads what the program did not, to its end.
	p, err = Start(prog, gunzipArgs, failingAtEnd{bytes.NewReader(z), bad})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(p, make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, p.Rest()); !errors.Is(err, bad) {
		t.Errorf("the rest of the input: %v, want its error at the end", err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("Close after Rest: %v", err)
	}
	if _, err := p.Read(make([]byte, 1)); err == nil {
		t.Error("a read after Close succeeded")
	}
}

// TestNoDescriptorLeft: a process read to its end, or stopped part-way, leaves no descriptor of
// its pipes open (not even for the garbage collector's finalizers to close).
func TestNoDescriptorLeft(t *testing.T) {
	prog := gunzip(t)
	fds := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skip("no /proc/self/fd")
		}
		return len(ents)
	}
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	z := gzipped(t, bytes.Repeat([]byte("golden image "), 1<<12))
	before := fds()
	for i := range 20 {
		p, err := Start(prog, gunzipArgs, bytes.NewReader(z))
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			_, err = io.Copy(io.Discard, p)
		} else {
			_, err = io.ReadFull(p, make([]byte, 10))
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if after := fds(); after != before {
		t.Errorf("%d descriptors open after 20 processes, %d before", after, before)
	}
}
