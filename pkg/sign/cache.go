package sign

import (
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ingot-build/ingot/internal/safefile"
)

// contentCache keeps signature material that is named by its digest (payload and envelope blobs,
// bundles, referrer manifests) between calls, so a second verification fetches only what can change:
// the .sig and .att tags and the referrers list. Nothing in it is trusted: every read is hashed again
// and a file that does not match its name is dropped. An empty dir disables it.
type contentCache struct {
	dir string
	// beforeWrite, when set, runs before each write (RemoteOptions.BeforeCacheWrite).
	beforeWrite func()
}

func (c contentCache) path(d v1.Hash) string { return filepath.Join(c.dir, d.Algorithm, d.Hex) }

func (c contentCache) get(d v1.Hash) ([]byte, bool) {
	if c.dir == "" || d.Algorithm != "sha256" || len(d.Hex) != 64 {
		return nil, false
	}
	data, err := os.ReadFile(c.path(d))
	if err != nil {
		return nil, false
	}
	if !sameDigest(d, data) {
		_ = os.Remove(c.path(d)) // corrupt: fetch it again
		return nil, false
	}
	return data, true
}

// put stores data under its digest, atomically; failing to cache is not an error.
func (c contentCache) put(d v1.Hash, data []byte) {
	if c.dir == "" || !sameDigest(d, data) {
		return
	}
	if c.beforeWrite != nil {
		c.beforeWrite()
	}
	dir := filepath.Dir(c.path(d))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return
	}
	f, err := safefile.CreateTemp(dir, "sig")
	if err != nil {
		return
	}
	_, werr := f.Write(data)
	cerr := f.Close()
	if werr != nil || cerr != nil || os.Rename(f.Name(), c.path(d)) != nil {
		_ = os.Remove(f.Name())
	}
}
