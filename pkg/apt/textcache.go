package apt

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/ingot-build/ingot/internal/safefile"
)

// TextCache keeps the decompressed text of each verified Packages index, by the index's SHA-256, so
// that a second lock against the same repository state neither reads nor decompresses the index:
// it scans the text (on every core) and parses the stanzas it needs, as Index does. The text is
// written as the index is first decompressed, and hashed as it is, so the cold lock pays for little
// more than the copy.
//
// An entry is a header, the SHA-256 of the text and the text, and is hashed again on every read: one
// that does not match (a torn write, since entries are not synced to disk, or any damage) is a
// miss, and the index is read again. The entry is only as trusted as the data directory: it is what
// this ingot decompressed from an index that matched its signed hash.
type TextCache struct{ Dir string }

// MaxTextEntries is how many texts the cache keeps: each is a whole decompressed index (about 48 MB
// for Debian's main, so at most about 400 MB), and a rebuild cycle meets a new state of each
// repository every day or so. When an entry is written, the least recently used beyond this number
// are removed.
const MaxTextEntries = 8

// textMagic starts every entry; textHeaderLen is the header: the magic, the text's SHA-256 in hex and
// a newline.
const (
	textMagic     = "ingot Packages text v1\n"
	textHeaderLen = len(textMagic) + 2*sha256.Size + 1
)

// ErrTextEntry means a text cache entry is missing, damaged or not one.
var ErrTextEntry = errors.New("apt: no usable cached index text")

// Path is the entry of the index whose SHA-256 is indexSHA256.
func (c *TextCache) Path(indexSHA256 string) string { return filepath.Join(c.Dir, indexSHA256) }

// Load returns the text of the index indexSHA256, checked against the entry's hash.
func (c *TextCache) Load(indexSHA256 string) ([]byte, error) {
	if !validHex(indexSHA256) {
		return nil, fmt.Errorf("%w: %.80q is not a lowercase sha256", ErrTextEntry, indexSHA256)
	}
	p := c.Path(indexSHA256)
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTextEntry, err)
	}
	text, err := checkText(data)
	if err == nil {
		now := time.Now()
		_ = os.Chtimes(p, now, now) // recently used: the last to be pruned
	}
	return text, err
}

// prune removes the least recently used entries beyond MaxTextEntries.
func (c *TextCache) prune() {
	es, err := os.ReadDir(c.Dir)
	if err != nil {
		return
	}
	type aged struct {
		path string
		mod  time.Time
	}
	var all []aged
	for _, e := range es {
		if !e.Type().IsRegular() || !validHex(e.Name()) {
			continue // temporary files are swept with the others
		}
		if fi, err := e.Info(); err == nil {
			all = append(all, aged{filepath.Join(c.Dir, e.Name()), fi.ModTime()})
		}
	}
	if len(all) <= MaxTextEntries {
		return
	}
	slices.SortFunc(all, func(a, b aged) int { return b.mod.Compare(a.mod) })
	for _, a := range all[MaxTextEntries:] {
		_ = os.Remove(a.path)
	}
}

// Check checks the entry at path, as Load would.
func (c *TextCache) Check(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	_, err = checkText(data)
	return err
}

func checkText(data []byte) ([]byte, error) {
	if len(data) < textHeaderLen || !bytes.HasPrefix(data, []byte(textMagic)) || data[textHeaderLen-1] != '\n' {
		return nil, fmt.Errorf("%w: not a cached index text", ErrTextEntry)
	}
	want := string(data[len(textMagic) : textHeaderLen-1])
	text := data[textHeaderLen:]
	sum := sha256.Sum256(text)
	if got := hex.EncodeToString(sum[:]); got != want {
		return nil, fmt.Errorf("%w: the text hashes to %s, its header says %.64q", ErrTextEntry, got, want)
	}
	return text, nil
}

// Save writes the entry of indexSHA256 with text at once (Index writes its entries as the text
// arrives).
func (c *TextCache) Save(indexSHA256 string, text []byte) error {
	w := c.writer(indexSHA256)
	if w == nil {
		return fmt.Errorf("%w: cannot write an entry for %.80q in %s", ErrTextEntry, indexSHA256, c.Dir)
	}
	w.write(text)
	w.commit()
	return w.err
}

// textWriter writes an entry as the text arrives: into a temporary file, hashed as it goes; commit
// writes the hash into the header and renames the file into place, discard removes it.
type textWriter struct {
	c    *TextCache
	f    *os.File
	dst  string
	h    hash.Hash
	err  error // the first failure: the entry is then discarded
	done bool
}

// writer starts the entry of indexSHA256; nil when the cache cannot be written (it only costs time).
func (c *TextCache) writer(indexSHA256 string) *textWriter {
	if !validHex(indexSHA256) || os.MkdirAll(c.Dir, 0o755) != nil {
		return nil
	}
	f, err := safefile.CreateTemp(c.Dir, indexSHA256)
	if err != nil {
		return nil
	}
	w := &textWriter{c: c, f: f, dst: c.Path(indexSHA256), h: sha256.New()}
	_, w.err = f.Write(make([]byte, textHeaderLen))
	return w
}

// write adds text to the entry.
func (w *textWriter) write(text []byte) {
	if w == nil || w.err != nil {
		return
	}
	w.h.Write(text)
	_, w.err = w.f.Write(text)
}

// commit puts the entry in place, unless writing it failed; a cache that cannot be written only
// costs time, so its errors are not returned. It is not synced: a torn entry fails its hash and is
// read again.
func (w *textWriter) commit() {
	if w == nil || w.done {
		return
	}
	w.done = true
	header := append([]byte(textMagic), hex.EncodeToString(w.h.Sum(nil))...)
	header = append(header, '\n')
	if w.err == nil {
		_, w.err = w.f.WriteAt(header, 0)
	}
	for _, step := range []func() error{func() error { return w.f.Chmod(0o644) }, w.f.Close, func() error { return os.Rename(w.f.Name(), w.dst) }} {
		if w.err == nil {
			w.err = step()
		}
	}
	if w.err != nil {
		_ = w.f.Close()
		_ = os.Remove(w.f.Name())
		return
	}
	w.c.prune()
}

// discard removes an entry that will not be committed.
func (w *textWriter) discard() {
	if w == nil || w.done {
		return
	}
	w.done = true
	_ = w.f.Close()
	_ = os.Remove(w.f.Name())
}
