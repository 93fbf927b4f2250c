package layers

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"

	"github.com/ingot-build/ingot/internal/safefile"
	"github.com/ingot-build/ingot/internal/selfid"
)

// Cache keeps what visitors made of a layer, by what reading it proves (imageref.ContentID: a stored
// blob's digest, else its checked diff ID), so that a layer already analysed (in this image or
// another that shares it) is not read again: the walk replays its entries into the merged file
// system and gives each visitor its record back. Trivy keeps layer analyses the same way.
type Cache interface {
	Get(key string) ([]byte, bool)
	Put(key string, data []byte)
}

// Cacheable is a visitor whose findings on a layer can be kept in a Cache. A walk uses the cache
// only when every visitor is Cacheable.
type Cacheable interface {
	Visitor
	// CacheKey names what the visitor makes of a layer: its kind, version and every option that
	// changes it.
	CacheKey() string
	// SaveLayer returns the visitor's record of layer, once the walk is past it.
	SaveLayer(layer int) ([]byte, error)
	// LoadLayer takes back a record SaveLayer made, in place of visiting the layer's entries.
	LoadLayer(layer int, data []byte) error
}

// DirCache is a Cache in a directory: one file per key, named by the SHA-256 of the key and this
// ingot binary's build ID (another build may analyse differently), holding the SHA-256 of the
// record and the record, checked on every read. A file that does not match is a miss, and removed.
type DirCache struct {
	Dir string
	// BeforeWrite, when set, is called before a record is written.
	BeforeWrite func()
}

// Path is the file of key.
func (c DirCache) Path(key string) (string, error) {
	id, err := selfid.ID()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(id + "\n" + key))
	return filepath.Join(c.Dir, hex.EncodeToString(sum[:])), nil
}

// Get reads the record of key.
func (c DirCache) Get(key string) ([]byte, bool) {
	p, err := c.Path(key)
	if err != nil {
		return nil, false
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, false
	}
	if err := Check(data); err != nil {
		_ = os.Remove(p)
		return nil, false
	}
	return data[65:], true
}

// ErrDamaged means a layer cache file does not hold the record its checksum names.
var ErrDamaged = errors.New("layers: damaged layer cache entry")

// Check checks one file of a DirCache: the SHA-256 it starts with is that of the rest.
func Check(file []byte) error {
	if len(file) < 65 || file[64] != '\n' {
		return ErrDamaged
	}
	sum := sha256.Sum256(file[65:])
	if hex.EncodeToString(sum[:]) != string(file[:64]) {
		return ErrDamaged
	}
	return nil
}

// Put records data under key; a cache that cannot be written only costs time.
func (c DirCache) Put(key string, data []byte) {
	p, err := c.Path(key)
	if err != nil {
		return
	}
	if c.BeforeWrite != nil {
		c.BeforeWrite()
	}
	sum := sha256.Sum256(data)
	file := append([]byte(hex.EncodeToString(sum[:])+"\n"), data...)
	if os.MkdirAll(c.Dir, 0o755) == nil {
		_ = safefile.Write(p, file, 0o644)
	}
}

// cachedEntry is one entry of a layer, as much of it as the merged file system needs.
type cachedEntry struct {
	Index    int    `json:"i"`
	Name     string `json:"n"`
	Type     byte   `json:"t"`
	Mode     int64  `json:"m,omitempty"`
	UID      int    `json:"u,omitempty"`
	GID      int    `json:"g,omitempty"`
	Size     int64  `json:"s,omitempty"`
	Linkname string `json:"l,omitempty"`
	Watched  bool   `json:"w,omitempty"`
}

// layerRecord is what the cache keeps of a layer: its entries and each visitor's record.
type layerRecord struct {
	Entries  []cachedEntry `json:"entries"`
	Visitors [][]byte      `json:"visitors"`
}

// cacheKey is the key of the layer whose content id names (imageref.ContentID) for the visitors, or
// "" when one of them is not Cacheable.
func cacheKey(id string, vs []Visitor) string {
	keys := []string{id}
	for _, v := range vs {
		c, ok := v.(Cacheable)
		if !ok || c.CacheKey() == "" {
			return ""
		}
		keys = append(keys, c.CacheKey())
	}
	return strings.Join(keys, "\n")
}

// replay applies a cached layer to the file system and gives each visitor its record.
func replay(fs *FS, layer int, rec *layerRecord, vs []Visitor) error {
	for _, ce := range rec.Entries {
		h := &tar.Header{Name: ce.Name, Typeflag: ce.Type, Mode: ce.Mode, Uid: ce.UID, Gid: ce.GID, Size: ce.Size, Linkname: ce.Linkname}
		e := entryOf(layer, ce.Index, h)
		n := fs.apply(layer, ce.Index, &e)
		if n != nil && ce.Watched && n.Layer == layer && n.Index == ce.Index {
			n.watched = true
		}
	}
	for j, v := range vs {
		if err := v.(Cacheable).LoadLayer(layer, rec.Visitors[j]); err != nil {
			return err
		}
	}
	return nil
}

// loadRecord reads the record of key from c.
func loadRecord(c Cache, key string, visitors int) (*layerRecord, bool) {
	data, ok := c.Get(key)
	if !ok {
		return nil, false
	}
	var rec layerRecord
	if err := json.NewDecoder(bytes.NewReader(data)).Decode(&rec); err != nil || len(rec.Visitors) != visitors {
		return nil, false
	}
	return &rec, true
}

// saveRecord records layer's entries and the visitors' records under key.
func saveRecord(c Cache, key string, layer int, entries []cachedEntry, vs []Visitor) error {
	rec := layerRecord{Entries: entries}
	for _, v := range vs {
		b, err := v.(Cacheable).SaveLayer(layer)
		if err != nil {
			return err
		}
		rec.Visitors = append(rec.Visitors, b)
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	c.Put(key, data)
	return nil
}
