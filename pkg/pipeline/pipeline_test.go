package pipeline

import (
	"archive/tar"
	"context"
	"io"
	"log"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ingot-build/ingot/internal/debtest"
	"github.com/ingot-build/ingot/internal/testrepo"
	"github.com/ingot-build/ingot/pkg/lock"
	"github.com/ingot-build/ingot/pkg/spec"
)

func fixtureRepo(t *testing.T) *testrepo.Repo {
	return testrepo.New(t, testrepo.Options{Packages: []debtest.Package{
		{Name: "base-files", Version: "12.4", Arch: "all", Files: []debtest.File{{Path: "etc/debian_version", Body: []byte("12.4\n")}}},
		{Name: "hello-data", Version: "1.0", Arch: "all", Depends: "base-files", Files: []debtest.File{{Path: "usr/share/hello/greeting", Body: []byte("hi\n")}}},
	}})
}

func parseSpec(t *testing.T, dir, body string) *spec.Spec {
	t.Helper()
	p := filepath.Join(dir, "ingot.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := spec.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func files(t *testing.T, img v1.Image) map[string]*tar.Header {
	t.Helper()
	out := map[string]*tar.Header{}
	tr := tar.NewReader(mutate.Extract(img))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimSuffix(h.Name, "/")] = h
	}
}

// TestBaseImage locks a base image by digest from a registry and lays packages on top of its layers.
func TestBaseImage(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	base, err := random.Image(256, 2)
	if err != nil {
		t.Fatal(err)
	}
	base = mutate.MediaType(base, types.OCIManifestSchema1)
	ref, _ := name.ParseReference(u.Host + "/library/base:1")
	if err := remote.Write(ref, base); err != nil {
		t.Fatal(err)
	}
	bd, _ := base.Digest()

	repo := fixtureRepo(t)
	dir := t.TempDir()
	s := parseSpec(t, dir, `name: onbase
repositories: [{url: `+repo.URL+`, suite: stable, keyring: `+repo.Keyring+`}]
packages: [hello-data]
base: `+u.Host+`/library/base@`+bd.String()+"\n")
	opt := Options{DataDir: t.TempDir()}
	ctx := context.Background()
	l, err := Lock(ctx, s, opt)
	if err != nil {
		t.Fatal(err)
	}
	if l.Base == nil || l.Base.Digest != bd.String() {
		t.Fatalf("lock base = %+v, want digest %s", l.Base, bd)
	}
	res, err := Build(ctx, s, l, opt)
	if err != nil {
		t.Fatal(err)
	}
	img := res.Artifact.Image
	layers, _ := img.Layers()
	if len(layers) != 3 {
		t.Fatalf("image has %d layers, want the base's 2 plus 1", len(layers))
	}
	baseLayers, _ := base.Layers()
	for i, bl := range baseLayers {
		want, _ := bl.Digest()
		got, _ := layers[i].Digest()
		if got != want {
			t.Errorf("layer %d = %s, want the base layer %s", i, got, want)
		}
	}
	m, _ := img.Manifest()
	if m.Annotations["org.opencontainers.image.base.digest"] != bd.String() {
		t.Errorf("manifest annotations = %v, want base.digest %s", m.Annotations, bd)
	}
	if _, ok := files(t, img)["usr/share/hello/greeting"]; !ok {
		t.Error("the package's file is missing")
	}

	// A base given by a digest the registry does not have fails the lock clearly.
	s.Base = u.Host + "/library/base@sha256:" + strings.Repeat("0", 64)
	if _, err := Lock(ctx, s, opt); err == nil || !strings.Contains(err.Error(), "base") {
		t.Errorf("Lock with a missing base = %v", err)
	}
}

// TestBaseTag locks a base given by tag at the digest the tag names, builds on it from the lock
// alone (the tag moving after the lock changes nothing), and pins the new digest when locked again.
func TestBaseTag(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	push := func(seed int64) v1.Hash {
		img, err := random.Image(128+seed, 1)
		if err != nil {
			t.Fatal(err)
		}
		img = mutate.MediaType(img, types.OCIManifestSchema1)
		if err := remote.Write(mustTag(t, u.Host+"/library/base:12"), img); err != nil {
			t.Fatal(err)
		}
		d, _ := img.Digest()
		return d
	}
	first := push(1)
	repo := fixtureRepo(t)
	s := parseSpec(t, t.TempDir(), `name: ontag
repositories: [{url: `+repo.URL+`, suite: stable, keyring: `+repo.Keyring+`}]
packages: [hello-data]
base: `+u.Host+`/library/base:12`+"\n")
	if !s.BaseTag() {
		t.Fatal("a base by tag is not BaseTag")
	}
	opt := Options{DataDir: t.TempDir()}
	ctx := context.Background()
	l, err := Lock(ctx, s, opt)
	if err != nil {
		t.Fatal(err)
	}
	if l.Base == nil || l.Base.Digest != first.String() || l.Base.Ref != s.Base {
		t.Fatalf("lock base = %+v, want %s at %s", l.Base, s.Base, first)
	}
	second := push(2)
	res, err := Build(ctx, s, l, opt)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := res.Artifact.Image.Manifest()
	if got := m.Annotations["org.opencontainers.image.base.digest"]; got != first.String() {
		t.Errorf("built on %s, want the locked %s (the tag has moved to %s since)", got, first, second)
	}
	again, err := LockBase(ctx, s, opt)
	if err != nil {
		t.Fatal(err)
	}
	if again.Digest != second.String() {
		t.Errorf("locked again at %s, want %s", again.Digest, second)
	}
}

// TestSharedIndexes locks two specs naming the same repository with one Indexes: the Release and
// the Packages index are fetched once, and the locks are those made separately.
func TestSharedIndexes(t *testing.T) {
	repo := fixtureRepo(t)
	body := func(name, pkg string) string {
		return "name: " + name + "\nrepositories: [{url: " + repo.URL + ", suite: stable, keyring: " + repo.Keyring + "}]\npackages: [" + pkg + "]\n"
	}
	a := parseSpec(t, t.TempDir(), body("a", "hello-data"))
	b := parseSpec(t, t.TempDir(), body("b", "base-files"))
	ctx := context.Background()
	opt := Options{DataDir: t.TempDir(), Indexes: &Indexes{}}
	before := len(repo.Requests())
	la, err := LockPackages(ctx, a, opt)
	if err != nil {
		t.Fatal(err)
	}
	lb, err := LockPackages(ctx, b, opt)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, r := range repo.Requests()[before:] {
		counts[r]++
	}
	for r, n := range counts {
		if n > 1 {
			t.Errorf("%s fetched %d times", r, n)
		}
	}
	if counts["dists/stable/InRelease"] != 1 {
		t.Errorf("requests = %v, want one InRelease", counts)
	}
	for _, tc := range []struct {
		s      *spec.Spec
		shared *lock.Lock
	}{{a, la}, {b, lb}} {
		alone, err := LockPackages(ctx, tc.s, Options{DataDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		x, _ := tc.shared.Marshal()
		y, _ := alone.Marshal()
		if string(x) != string(y) {
			t.Errorf("%s: the shared lock differs from one made alone:\n%s\n%s", tc.s.Name, x, y)
		}
	}
	repos := opt.Indexes.Repositories()
	if len(repos) != 1 || repos[0].Release == nil || len(repos[0].Packages) != 1 {
		t.Fatalf("Repositories() = %+v, want the one repository with its amd64 index", repos)
	}
	var names []string
	for _, ps := range repos[0].Packages {
		for _, p := range ps {
			names = append(names, p.Name+"="+p.Version.String())
		}
	}
	slices.Sort(names)
	if want := []string{"base-files=12.4", "hello-data=1.0"}; !slices.Equal(names, want) {
		t.Errorf("packages seen = %v, want %v", names, want)
	}
}

// TestFilesAndPaths copies a local directory (with a symlink, not followed) and applies path operations.
func TestFilesAndPaths(t *testing.T) {
	repo := fixtureRepo(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "conf")
	if err := os.MkdirAll(filepath.Join(conf, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(conf, "sub", "app.toml"), []byte("x = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(conf, "passwd-link")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tool"), []byte("#!tool"), 0o700); err != nil {
		t.Fatal(err)
	}
	s := parseSpec(t, dir, `name: files
repositories: [{url: `+repo.URL+`, suite: stable, keyring: `+repo.Keyring+`}]
packages: [base-files]
files:
  - {source: conf, path: /etc/app, uid: 1000, gid: 1000}
  - {source: tool, path: /usr/local/bin/tool, mode: "0755"}
paths:
  - {path: /var/lib/app, type: directory, mode: "0700", uid: 65532, gid: 65532}
  - {path: /usr/bin/tool, type: symlink, target: /usr/local/bin/tool}
  - {path: /etc/app/sub/app.toml, type: permissions, mode: "0640", uid: 1000, gid: 1000}
env: {B: "2", A: "1"}
`)
	opt := Options{DataDir: t.TempDir()}
	l, err := Lock(context.Background(), s, opt)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Build(context.Background(), s, l, opt)
	if err != nil {
		t.Fatal(err)
	}
	fs := files(t, res.Artifact.Image)
	for _, tc := range []struct {
		path     string
		typ      byte
		mode     int64
		uid      int
		linkname string
	}{
		{"etc/app/sub/app.toml", tar.TypeReg, 0o640, 1000, ""},
		{"etc/app/passwd-link", tar.TypeSymlink, 0o777, 1000, "/etc/passwd"},
		{"usr/local/bin/tool", tar.TypeReg, 0o755, 0, ""},
		{"var/lib/app", tar.TypeDir, 0o700, 65532, ""},
		{"usr/bin/tool", tar.TypeSymlink, 0o777, 0, "/usr/local/bin/tool"},
	} {
		h, ok := fs[tc.path]
		if !ok {
			t.Errorf("%s missing", tc.path)
			continue
		}
		if h.Typeflag != tc.typ || h.Mode&0o7777 != tc.mode || h.Uid != tc.uid || h.Linkname != tc.linkname {
			t.Errorf("%s: type %c mode %o uid %d link %q; want %c %o %d %q", tc.path, h.Typeflag, h.Mode&0o7777, h.Uid, h.Linkname, tc.typ, tc.mode, tc.uid, tc.linkname)
		}
	}
	cfg, _ := res.Artifact.Image.ConfigFile()
	if got := strings.Join(cfg.Config.Env, " "); !strings.HasPrefix(got, "A=1 B=2") {
		t.Errorf("env = %q, want sorted A=1 B=2 first", got)
	}

	// Changing a copied file changes the image: the build cache must not hide it.
	if err := os.WriteFile(filepath.Join(dir, "tool"), []byte("#!tool v2"), 0o700); err != nil {
		t.Fatal(err)
	}
	again, err := Build(context.Background(), s, l, opt)
	if err != nil {
		t.Fatal(err)
	}
	if again.Cached || again.Digest == res.Digest {
		t.Errorf("a changed file gave cached=%v digest %s (was %s)", again.Cached, again.Digest, res.Digest)
	}
	// And unchanged inputs are recognised.
	third, err := Build(context.Background(), s, l, opt)
	if err != nil {
		t.Fatal(err)
	}
	if !third.Cached || third.Digest != again.Digest {
		t.Errorf("an unchanged rebuild gave cached=%v digest %s (want %s)", third.Cached, third.Digest, again.Digest)
	}
}
