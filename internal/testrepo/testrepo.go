package testrepo

import (
	"bytes"
	"crypto/md5" //nolint:gosec // MD5Sum is part of the Debian index format, not a security check here
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/klauspost/compress/gzip"
	"github.com/ulikunitz/xz"

	"github.com/ingot-build/ingot/internal/debtest"
	"github.com/ingot-build/ingot/pkg/apt"
	"github.com/ingot-build/ingot/pkg/deb"
)

// Options shape the published repository. The zero value publishes an empty, valid suite.
type Options struct {
	Suite, Codename string   // default "stable", "ingot-test"
	Components      []string // default ["main"]; every package goes to the first one
	Archs           []string // default ["amd64"]
	// Packages are built with debtest.Build. Arch "all" is listed in every binary-<arch> index.
	Packages []debtest.Package
	Date     time.Time // default now
	// ValidUntil is written as Valid-Until unless zero.
	ValidUntil time.Time
	// Detached publishes Release and Release.gpg instead of InRelease.
	Detached bool
	// Compressions are the Packages variants published: "xz", "gz" and "none"; default ["xz", "gz"].
	// Like Debian, the Release always lists the uncompressed Packages, even when it is not published.
	Compressions []string
	// ByHash also publishes every index under by-hash/SHA256/<hex> and says Acquire-By-Hash: yes.
	ByHash bool
	// SignWith signs with this key instead of the repository key, whose keyring is still the one
	// handed out: for bad-signature tests.
	SignWith *openpgp.Entity
}

// Repo is a published repository. Its server is closed when the test ends.
type Repo struct {
	URL     string            // loopback base URL of the archive (holding dists/ and pool/)
	Dir     string            // the archive on disk, for tamper tests and file:// URLs
	Keyring string            // binary public keyring holding Key
	Key     *openpgp.Entity   // the repository signing key
	Source  apt.Source        // ready to use: URL, Suite, Components, Keyring
	Debs    map[string][]byte // .deb bytes by pool Filename, as served

	mu       sync.Mutex
	requests []string
	fail     map[string]int
}

// NewKey makes a fresh Ed25519 signing key (fast to generate, unlike RSA).
func NewKey(t testing.TB) *openpgp.Entity {
	t.Helper()
	e, err := openpgp.NewEntity("ingot test repository", "", "repo@ingot.invalid", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatalf("testrepo: generating key: %v", err)
	}
	return e
}

// New builds the repository described by opt under a temporary directory and serves it.
func New(t testing.TB, opt Options) *Repo {
	t.Helper()
	tmp := t.TempDir()
	r := &Repo{
		Dir:     filepath.Join(tmp, "archive"),
		Keyring: filepath.Join(tmp, "keyring.gpg"),
		Key:     NewKey(t),
		Debs:    map[string][]byte{},
		fail:    map[string]int{},
	}
	var kr bytes.Buffer
	if err := r.Key.Serialize(&kr); err != nil {
		t.Fatalf("testrepo: serializing key: %v", err)
	}
	r.write(t, r.Keyring, kr.Bytes())
	opt = r.publish(t, opt)

	srv := httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	r.Source = apt.Source{URL: srv.URL, Suite: opt.Suite, Components: slices.Clone(opt.Components), Keyring: r.Keyring}.WithDefaults()
	return r
}

// Publish publishes the suite again as opt describes it, signed with the same key and served at the
// same URL, as an archive does when packages are updated: new packages go to the pool (earlier
// ones stay there), and the indexes and the signed Release list exactly opt's packages. Give the
// same Suite and Components as before for the same Source to see the change. opt.Date defaults to
// now, so the Release differs from the last one.
func (r *Repo) Publish(t testing.TB, opt Options) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.publish(t, opt)
}

// publish writes the pool, the indexes and the signed Release of opt (with its defaults, returned).
func (r *Repo) publish(t testing.TB, opt Options) Options {
	t.Helper()
	if opt.Suite == "" {
		opt.Suite = "stable"
	}
	if opt.Codename == "" {
		opt.Codename = "ingot-test"
	}
	if len(opt.Components) == 0 {
		opt.Components = []string{"main"}
	}
	if len(opt.Archs) == 0 {
		opt.Archs = []string{"amd64"}
	}
	if opt.Compressions == nil {
		opt.Compressions = []string{"xz", "gz"}
	}
	if opt.Date.IsZero() {
		opt.Date = time.Now()
	}

	// pool/ and the Packages stanzas, per arch.
	stanzas := map[string][]deb.Paragraph{}
	published := map[string]bool{}
	for _, p := range opt.Packages {
		data, err := debtest.Build(p)
		if err != nil {
			t.Fatalf("testrepo: %v", err)
		}
		arch := p.Arch
		if arch == "" {
			arch = "amd64"
		}
		filename := poolPath(opt.Components[0], p, arch)
		if published[filename] {
			t.Fatalf("testrepo: two packages publish %s", filename)
		}
		published[filename] = true
		r.Debs[filename] = data
		r.write(t, filepath.Join(r.Dir, filepath.FromSlash(filename)), data)

		md := md5.Sum(data) //nolint:gosec // see import
		sha := sha256.Sum256(data)
		st := debtest.ControlParagraph(p)
		st.Fields = append(st.Fields,
			deb.Field{Name: "Filename", Value: filename},
			deb.Field{Name: "Size", Value: strconv.Itoa(len(data))},
			deb.Field{Name: "MD5sum", Value: hex.EncodeToString(md[:])},
			deb.Field{Name: "SHA256", Value: hex.EncodeToString(sha[:])},
		)
		for _, a := range opt.Archs {
			if arch == a || arch == "all" {
				stanzas[a] = append(stanzas[a], st)
			}
		}
	}

	// dists/<suite>/<component>/binary-<arch>/Packages*, remembering what the Release must list.
	dist := filepath.Join(r.Dir, "dists", filepath.FromSlash(opt.Suite))
	var listed []listedFile
	for i, comp := range opt.Components {
		for _, arch := range opt.Archs {
			var plain bytes.Buffer
			if i == 0 {
				for j, st := range stanzas[arch] {
					if j > 0 {
						plain.WriteByte('\n')
					}
					if _, err := st.WriteTo(&plain); err != nil {
						t.Fatalf("testrepo: writing stanza: %v", err)
					}
				}
			}
			dir := comp + "/binary-" + arch
			listed = append(listed, listedFile{dir + "/Packages", plain.Bytes()})
			for _, c := range opt.Compressions {
				name, data := dir+"/Packages", plain.Bytes()
				switch c {
				case "none":
				case "xz":
					name, data = name+".xz", compressXZ(t, data)
					listed = append(listed, listedFile{name, data})
				case "gz":
					name, data = name+".gz", compressGZ(t, data)
					listed = append(listed, listedFile{name, data})
				default:
					t.Fatalf("testrepo: unknown compression %q", c)
				}
				r.write(t, filepath.Join(dist, filepath.FromSlash(name)), data)
				if opt.ByHash {
					sum := sha256.Sum256(data)
					r.write(t, filepath.Join(dist, filepath.FromSlash(dir), "by-hash", "SHA256", hex.EncodeToString(sum[:])), data)
				}
			}
		}
	}

	release := releaseText(t, opt, listed)
	signer := r.Key
	if opt.SignWith != nil {
		signer = opt.SignWith
	}
	if opt.Detached {
		var sig bytes.Buffer
		if err := openpgp.ArmoredDetachSign(&sig, signer, bytes.NewReader(release), nil); err != nil {
			t.Fatalf("testrepo: signing Release: %v", err)
		}
		r.write(t, filepath.Join(dist, "Release"), release)
		r.write(t, filepath.Join(dist, "Release.gpg"), sig.Bytes())
	} else {
		var in bytes.Buffer
		w, err := clearsign.Encode(&in, signer.PrivateKey, nil)
		if err != nil {
			t.Fatalf("testrepo: signing InRelease: %v", err)
		}
		if _, err := w.Write(release); err != nil {
			t.Fatalf("testrepo: signing InRelease: %v", err)
		}
		if err := w.Close(); err != nil {
			t.Fatalf("testrepo: signing InRelease: %v", err)
		}
		r.write(t, filepath.Join(dist, "InRelease"), in.Bytes())
	}
	return opt
}

type listedFile struct {
	path string
	data []byte
}

// releaseText writes the Release fields as Debian's archive software does, with MD5Sum and SHA256
// sections.
func releaseText(t testing.TB, opt Options, files []listedFile) []byte {
	t.Helper()
	const layout = "Mon, 02 Jan 2006 15:04:05 UTC"
	p := deb.Paragraph{Fields: []deb.Field{
		{Name: "Origin", Value: "ingot-test"},
		{Name: "Label", Value: "ingot-test"},
		{Name: "Suite", Value: opt.Suite},
		{Name: "Version", Value: "1.0"},
		{Name: "Codename", Value: opt.Codename},
		{Name: "Date", Value: opt.Date.UTC().Format(layout)},
	}}
	if !opt.ValidUntil.IsZero() {
		p.Fields = append(p.Fields, deb.Field{Name: "Valid-Until", Value: opt.ValidUntil.UTC().Format(layout)})
	}
	if opt.ByHash {
		p.Fields = append(p.Fields, deb.Field{Name: "Acquire-By-Hash", Value: "yes"})
	}
	p.Fields = append(p.Fields,
		deb.Field{Name: "Architectures", Value: strings.Join(opt.Archs, " ")},
		deb.Field{Name: "Components", Value: strings.Join(opt.Components, " ")},
		deb.Field{Name: "Description", Value: "ingot test repository"},
	)
	var md5s, shas strings.Builder
	for _, f := range files {
		m := md5.Sum(f.data) //nolint:gosec // see import
		s := sha256.Sum256(f.data)
		fmt.Fprintf(&md5s, "\n%s %16d %s", hex.EncodeToString(m[:]), len(f.data), f.path)
		fmt.Fprintf(&shas, "\n%s %16d %s", hex.EncodeToString(s[:]), len(f.data), f.path)
	}
	p.Fields = append(p.Fields,
		deb.Field{Name: "MD5Sum", Value: md5s.String()},
		deb.Field{Name: "SHA256", Value: shas.String()},
	)
	var b bytes.Buffer
	if _, err := p.WriteTo(&b); err != nil {
		t.Fatalf("testrepo: writing Release: %v", err)
	}
	return b.Bytes()
}

// poolPath lays packages out as Debian does: pool/<component>/<prefix>/<source>/<name>_<version>_<arch>.deb,
// with the epoch left out of the file name.
func poolPath(component string, p debtest.Package, arch string) string {
	src := p.Source
	if i := strings.IndexByte(src, ' '); i >= 0 {
		src = src[:i]
	}
	if src == "" {
		src = p.Name
	}
	prefix := src[:1]
	if strings.HasPrefix(src, "lib") && len(src) > 3 {
		prefix = src[:4]
	}
	version := p.Version
	if i := strings.IndexByte(version, ':'); i >= 0 {
		version = version[i+1:]
	}
	return path.Join("pool", component, prefix, src, p.Name+"_"+version+"_"+arch+".deb")
}

func compressXZ(t testing.TB, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := xz.NewWriter(&b)
	if err != nil {
		t.Fatalf("testrepo: xz: %v", err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatalf("testrepo: xz: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("testrepo: xz: %v", err)
	}
	return b.Bytes()
}

func compressGZ(t testing.TB, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write(data); err != nil {
		t.Fatalf("testrepo: gzip: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("testrepo: gzip: %v", err)
	}
	return b.Bytes()
}

func (r *Repo) write(t testing.TB, name string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatalf("testrepo: %v", err)
	}
	if err := os.WriteFile(name, data, 0o644); err != nil {
		t.Fatalf("testrepo: %v", err)
	}
}

// serve answers GET requests from Dir, recording each path and honouring FailWith.
func (r *Repo) serve(w http.ResponseWriter, req *http.Request) {
	rel := strings.TrimPrefix(req.URL.Path, "/")
	r.mu.Lock()
	r.requests = append(r.requests, rel)
	status, failing := r.fail[rel]
	r.mu.Unlock()
	if failing {
		http.Error(w, http.StatusText(status), status)
		return
	}
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if path.Clean("/"+rel) != "/"+rel {
		http.NotFound(w, req)
		return
	}
	// rel is clean and absolute-rooted (checked above), so it stays inside the test archive Dir.
	data, err := os.ReadFile(filepath.Join(r.Dir, filepath.FromSlash(rel))) //nolint:gosec // G703: path checked above
	if err != nil {
		http.NotFound(w, req)
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.Header().Set("Content-Type", "application/octet-stream")
	_, _ = w.Write(data) //nolint:gosec // G705: archive files served as application/octet-stream to apt, not HTML
}

// Requests returns the paths requested so far, relative to the archive root ("dists/stable/InRelease").
func (r *Repo) Requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.requests)
}

// FailWith makes the server answer requests for relPath (relative to the archive root) with status.
func (r *Repo) FailWith(relPath string, status int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail[relPath] = status
}

// Tamper rewrites the file at relPath (relative to the archive root) with mutate's result; the server
// serves the new bytes from then on.
func (r *Repo) Tamper(t testing.TB, relPath string, mutate func([]byte) []byte) {
	t.Helper()
	name := filepath.Join(r.Dir, filepath.FromSlash(relPath))
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatalf("testrepo: tamper: %v", err)
	}
	r.write(t, name, mutate(data))
}
