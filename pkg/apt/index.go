package apt

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/ulikunitz/xz"

	"github.com/ingot-build/ingot/pkg/deb"
)

// Packages downloads the Packages index of component and arch: Packages.gz, else .xz, else the plain
// file, whichever the Release lists first. gzip comes first although xz is smaller: Go's xz decoder
// takes over a second for Debian's main index (about 10x gzip's time), far more than the 3-4 MiB more
// that gzip costs to download. Its size and SHA-256 are checked against the Release before
// it is decompressed; then every stanza is parsed with ParsePackage and its Repository set to the
// source's Name. The IndexFile used is returned for the lock.
func (c *Client) Packages(ctx context.Context, src Source, rel *Release, component, arch string) (IndexFile, []*Package, error) {
	src = src.WithDefaults()
	if rel == nil {
		return IndexFile{}, nil, fmt.Errorf("%w: %s: Packages needs the source's verified Release", ErrSource, src.Name)
	}
	if !validRelPath(component) || !validRelPath(arch) || strings.Contains(arch, "/") {
		return IndexFile{}, nil, fmt.Errorf("%w: component %q, arch %q", ErrSource, component, arch)
	}
	dir := component + "/binary-" + arch + "/"
	var idx IndexFile
	found := false
	for _, ext := range []string{".gz", ".xz", ""} { // fastest to decompress first
		if f, ok := rel.Files[dir+"Packages"+ext]; ok {
			idx, found = f, true
			break
		}
	}
	if !found {
		return IndexFile{}, nil, fmt.Errorf("%w: %s lists no %sPackages index", ErrNotFound, src.distURL("Release"), dir)
	}
	data, err := c.index(ctx, src, rel, idx)
	if err != nil {
		return IndexFile{}, nil, err
	}
	limit := c.MaxIndexSize
	if limit <= 0 {
		limit = maxIndexSize
	}
	pkgs, err := parseIndex(idx.Path, data, limit)
	if err != nil {
		return IndexFile{}, nil, fmt.Errorf("%s: %w", src.distURL(idx.Path), err)
	}
	for _, p := range pkgs {
		p.Repository = src.Name
	}
	return idx, pkgs, nil
}

// index returns the verified bytes of idx, from the cache when it holds them.
func (c *Client) index(ctx context.Context, src Source, rel *Release, idx IndexFile) ([]byte, error) {
	if c.Cache != nil {
		if data, err := c.Cache.ReadVerified(idx.SHA256); err == nil {
			return data, nil
		}
	}
	hc := c.httpClient()
	var data []byte
	var err error
	if rel.AcquireByHash {
		// by-hash files never change under the same name, so a mirror update between the Release and
		// this request cannot hand us a newer index than the one signed.
		data, err = fetchVerified(ctx, hc, src.distURL(path.Dir(idx.Path)+"/by-hash/SHA256/"+idx.SHA256), idx.Size, idx.SHA256)
	}
	if !rel.AcquireByHash || errors.Is(err, ErrNotFound) {
		data, err = fetchVerified(ctx, hc, src.distURL(idx.Path), idx.Size, idx.SHA256)
	}
	if err != nil {
		return nil, err
	}
	if c.Cache != nil {
		if err := c.Cache.store(idx.SHA256, data); err != nil {
			return nil, err
		}
	}
	return data, nil
}

// fetchVerified downloads url, reading no more than size+1 bytes, and checks size and SHA-256.
func fetchVerified(ctx context.Context, hc *http.Client, url string, size int64, sha string) ([]byte, error) {
	data, err := fetch(ctx, hc, url, size)
	if errors.Is(err, ErrTooLarge) {
		return nil, fmt.Errorf("%w: %s is larger than the %d bytes signed", ErrHashMismatch, url, size)
	}
	if err != nil {
		return nil, err
	}
	if int64(len(data)) != size {
		return nil, fmt.Errorf("%w: %s has %d bytes, %d signed", ErrHashMismatch, url, len(data), size)
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != sha {
		return nil, fmt.Errorf("%w: %s has sha256 %s, %s signed", ErrHashMismatch, url, got, sha)
	}
	return data, nil
}

// parseIndex decompresses a verified Packages index (by its name's extension) and parses its stanzas.
func parseIndex(name string, data []byte, limit int64) ([]*Package, error) {
	var r io.Reader = bytes.NewReader(data)
	switch {
	case strings.HasSuffix(name, ".xz"):
		xr, err := xz.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("decompressing: %w", err)
		}
		r = xr
	case strings.HasSuffix(name, ".gz"):
		gr, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("decompressing: %w", err)
		}
		defer gr.Close()
		r = gr
	}
	lr := &limitedReader{r: r, n: limit, limit: limit}
	var pkgs []*Package
	err := deb.ReadParagraphs(lr, func(p deb.Paragraph) error {
		pkg, err := ParsePackage(p)
		if err != nil {
			return fmt.Errorf("stanza %d (%s): %w", len(pkgs)+1, p.Get("Package"), err)
		}
		pkgs = append(pkgs, pkg)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return pkgs, nil
}

// limitedReader is io.LimitReader that fails, rather than reporting EOF, once more than n bytes are read,
// so that a decompression bomb is an error and not a silently truncated index.
type limitedReader struct {
	r        io.Reader
	n, limit int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n < 0 {
		return 0, fmt.Errorf("%w: index decompresses to more than %d bytes", ErrTooLarge, l.limit)
	}
	if int64(len(p)) > l.n+1 {
		p = p[:l.n+1]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if l.n < 0 {
		return n, fmt.Errorf("%w: index decompresses to more than %d bytes", ErrTooLarge, l.limit)
	}
	return n, err
}
