package build_test

import (
	"archive/tar"
	"bytes"
	stdgzip "compress/gzip"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ingot-build/ingot/internal/debtest"
	"github.com/ingot-build/ingot/pkg/build"
	"github.com/ingot-build/ingot/pkg/deb"
)

// Packages shaped like a small Debian image: a merged-/usr base-files, glibc split in two binary
// packages, a busybox with hardlinks, and ca-certificates.
func baseFiles(t testing.TB) build.Package {
	return pkg(t, debtest.Package{Name: "base-files", Version: "13.1", Files: []debtest.File{
		{Path: "usr/bin", Dir: true},
		{Path: "usr/lib", Dir: true},
		{Path: "bin", Symlink: "usr/bin"},
		{Path: "lib", Symlink: "usr/lib"},
		{Path: "usr/lib/os-release", Body: []byte("ID=debian\nVERSION_ID=\"13\"\n")},
		{Path: "etc/os-release", Symlink: "../usr/lib/os-release"},
		{Path: "etc/debian_version", Body: []byte("13.1\n")},
		{Path: "tmp", Dir: true, Mode: 0o1777},
	}})
}

func libc6Deb() debtest.Package {
	return debtest.Package{Name: "libc6", Version: "2.41-12", Source: "glibc", Files: []debtest.File{
		{Path: "lib/x86_64-linux-gnu/libc.so.6", Body: bytes.Repeat([]byte("libc"), 4096), Mode: 0o755},
		{Path: "lib64/ld-linux-x86-64.so.2", Symlink: "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"},
		{Path: "lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", Body: []byte("ld.so"), Mode: 0o755},
	}}
}

func libc6(t testing.TB) build.Package { return pkg(t, libc6Deb()) }

func libcBin(t testing.TB) build.Package {
	return pkg(t, debtest.Package{Name: "libc-bin", Version: "2.41-12", Source: "glibc (2.41-12)", Files: []debtest.File{
		{Path: "usr/bin/ldd", Body: []byte("#!/bin/sh\n"), Mode: 0o755},
	}})
}

func busybox(t testing.TB) build.Package {
	return pkg(t, debtest.Package{Name: "busybox", Version: "1:1.37.0-6", Files: []debtest.File{
		{Path: "bin/busybox", Body: []byte("busybox binary"), Mode: 0o755},
		{Path: "bin/ash", Hardlink: "bin/busybox"},
		{Path: "usr/share/doc/busybox/copyright", Body: []byte("GPL-2\n"), UID: 5, GID: 7},
	}})
}

func caCertificates(t testing.TB) build.Package {
	return pkg(t, debtest.Package{Name: "ca-certificates", Version: "20250419", Arch: "all", Files: []debtest.File{
		{Path: "etc/ssl/certs", Dir: true},
		{Path: "usr/share/ca-certificates/mozilla/B_Root.crt", Body: []byte("-----B-----\n")},
		{Path: "usr/share/ca-certificates/mozilla/A_Root.crt", Body: []byte("-----A-----")},
		{Path: "usr/share/ca-certificates/mozilla/README", Body: []byte("not a cert\n")},
	}})
}

func fixture(t testing.TB) build.Options {
	return build.Options{
		Arch:     "amd64",
		Packages: []build.Package{baseFiles(t), libc6(t), libcBin(t), busybox(t), caCertificates(t)},
		Accounts: nonroot(),
		Files: []build.File{
			{Path: "/usr/local/bin/hello", Mode: 0o755, Data: []byte("hello binary")},
			{Path: "/usr/local/bin/hi", Mode: fs.ModeSymlink | 0o777, Linkname: "hello"},
			{Path: "/etc/app", Mode: fs.ModeDir | 0o750, UID: 65532, GID: 65532},
			{Path: "/etc/app/config.yaml", Mode: 0o640, Data: []byte("a: 1\n")},
			{Path: "/usr/local/share/ca-certificates/corp.crt", Mode: 0o644, Data: []byte("-----CORP-----\n")},
		},
		Paths: []build.PathOp{
			{Path: "/var/lib/app", Type: build.PathDirectory, Mode: 0o700, UID: 65532, GID: 65532},
			{Path: "/app", Type: build.PathSymlink, Target: "/usr/local/bin/hello"},
			{Path: "/etc/app", Type: build.PathPermissions, UID: 65532, GID: 65532, Recursive: true},
		},
		Config: build.Config{
			Env:        []string{"LANG=C.UTF-8"},
			Entrypoint: []string{"/usr/local/bin/hello"},
			Cmd:        []string{"--help"},
			WorkDir:    "/home/nonroot",
			StopSignal: "SIGTERM",
			Labels:     map[string]string{"org.example": "yes"},
		},
		Epoch:       testEpoch(),
		Annotations: map[string]string{"org.opencontainers.image.title": "fixture"},
		OSRelease:   build.OSRelease{ID: "debian", Name: "Debian GNU/Linux", VersionID: "13", VersionCodename: "trixie"},
	}
}

// listing renders a flattened file system one line per entry, for golden files.
func listing(fsys map[string]fsEntry) []byte {
	names := make([]string, 0, len(fsys))
	for n := range fsys {
		names = append(names, n)
	}
	sort.Strings(names)
	var b bytes.Buffer
	for _, n := range names {
		h := fsys[n].hdr
		fmt.Fprintf(&b, "%c %04o %d:%d %s", h.Typeflag, h.Mode, h.Uid, h.Gid, n)
		switch h.Typeflag {
		case tar.TypeSymlink:
			fmt.Fprintf(&b, " -> %s", h.Linkname)
		case tar.TypeLink:
			fmt.Fprintf(&b, " link to %s", h.Linkname)
		case tar.TypeReg:
			fmt.Fprintf(&b, " (%d bytes)", len(fsys[n].data))
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func TestImageFileSystem(t *testing.T) {
	img := mustImage(t, fixture(t))
	fsys := flatten(t, img)
	golden(t, "fixture.listing", listing(fsys))

	checks := []struct {
		name, path, want string
	}{
		{"libc lands below merged /usr", "usr/lib/x86_64-linux-gnu/libc.so.6", strings.Repeat("libc", 4096)},
		{"overwrite order", "usr/bin/ldd", "#!/bin/sh\n"},
		{"status.d control verbatim", "var/lib/dpkg/status.d/libc6", controlText(t, libc6Deb())},
		{"ca bundle: sorted, newline-terminated, local certs last", "etc/ssl/certs/ca-certificates.crt", "-----A-----\n-----B-----\n-----CORP-----\n"},
		{"package os-release kept", "usr/lib/os-release", "ID=debian\nVERSION_ID=\"13\"\n"},
		{"file from Files", "usr/local/bin/hello", "hello binary"},
		{"passwd", "etc/passwd", "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"},
		{"group", "etc/group", "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n"},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			e, ok := fsys[c.path]
			if !ok {
				t.Fatalf("%s missing", c.path)
			}
			if string(e.data) != c.want {
				t.Errorf("%s = %q, want %q", c.path, e.data, c.want)
			}
		})
	}
	modes := []struct {
		path     string
		typ      byte
		mode     int64
		uid, gid int
	}{
		{"tmp", tar.TypeDir, 0o1777, 0, 0},
		{"root", tar.TypeDir, 0o700, 0, 0},
		{"home/nonroot", tar.TypeDir, 0o700, 65532, 65532},
		{"bin", tar.TypeSymlink, 0o777, 0, 0},
		{"etc/app", tar.TypeDir, 0o750, 65532, 65532},
		{"etc/app/config.yaml", tar.TypeReg, 0o640, 65532, 65532},
		{"var/lib/app", tar.TypeDir, 0o700, 65532, 65532},
		{"usr/share/doc/busybox/copyright", tar.TypeReg, 0o644, 5, 7},
		{"var/lib/dpkg/status.d/busybox", tar.TypeReg, 0o644, 0, 0},
	}
	for _, m := range modes {
		e, ok := fsys[m.path]
		if !ok {
			t.Errorf("%s missing", m.path)
			continue
		}
		if e.hdr.Typeflag != m.typ || e.hdr.Mode != m.mode || e.hdr.Uid != m.uid || e.hdr.Gid != m.gid {
			t.Errorf("%s: type %c mode %o owner %d:%d, want %c %o %d:%d", m.path, e.hdr.Typeflag, e.hdr.Mode, e.hdr.Uid, e.hdr.Gid, m.typ, m.mode, m.uid, m.gid)
		}
	}
	for _, absent := range []string{"etc/os-release.generated", "var/lib/dpkg/status.d/ca-certificates.md5sums.missing"} {
		if _, ok := fsys[absent]; ok {
			t.Errorf("%s should not exist", absent)
		}
	}
	if e := fsys["etc/os-release"]; e.hdr == nil || e.hdr.Typeflag != tar.TypeSymlink {
		t.Errorf("etc/os-release should stay the package's symlink, got %+v", e.hdr)
	}
}

// controlText is the control file debtest writes for p.
func controlText(t testing.TB, p debtest.Package) string {
	var b bytes.Buffer
	if _, err := debtest.ControlParagraph(p).WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestStatusD(t *testing.T) {
	withSums := debtest.Package{Name: "hello", Version: "2.10-3", Source: "hello-src", Files: []debtest.File{{Path: "usr/bin/hello", Body: []byte("hi")}}}
	noSums := debtest.Package{Name: "quiet", Version: "1", SkipMD5Sums: true, Files: []debtest.File{{Path: "usr/bin/quiet", Body: []byte("q")}}}
	img := mustImage(t, build.Options{Arch: "amd64", Packages: []build.Package{pkg(t, withSums), pkg(t, noSums)}, Epoch: testEpoch()})
	fsys := flatten(t, img)

	if got, want := string(fsys["var/lib/dpkg/status.d/hello"].data), controlText(t, withSums); got != want {
		t.Errorf("status.d/hello = %q, want %q", got, want)
	}
	p, err := deb.ParseParagraph(fsys["var/lib/dpkg/status.d/hello"].data)
	if err != nil {
		t.Fatal(err)
	}
	if p.Get("Package") != "hello" || p.Get("Version") != "2.10-3" || p.Get("Source") != "hello-src" {
		t.Errorf("status.d/hello fields: %+v", p)
	}
	if got, want := string(fsys["var/lib/dpkg/status.d/hello.md5sums"].data), "49f68a5c8493ec2c0bf489821c21fc3b  usr/bin/hello\n"; got != want {
		t.Errorf("hello.md5sums = %q, want %q", got, want)
	}
	if _, ok := fsys["var/lib/dpkg/status.d/quiet"]; !ok {
		t.Error("status.d/quiet missing")
	}
	if _, ok := fsys["var/lib/dpkg/status.d/quiet.md5sums"]; ok {
		t.Error("quiet.md5sums written for a package without md5sums")
	}
	if h := fsys["var/lib/dpkg/status.d/hello"].hdr; h.Mode != 0o644 || h.Uid != 0 {
		t.Errorf("status.d/hello mode %o uid %d", h.Mode, h.Uid)
	}
}

func TestReproducible(t *testing.T) {
	opt := fixture(t)
	want := digest(t, mustImage(t, opt))

	var wg sync.WaitGroup
	got := make([]v1.Hash, 2)
	errs := make([]error, 2)
	for i := range got {
		wg.Go(func() {
			img, err := build.Image(context.Background(), fixture(t))
			if err != nil {
				errs[i] = err
				return
			}
			got[i], errs[i] = img.Digest()
		})
	}
	wg.Wait()
	for i := range got {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if got[i] != want {
			t.Errorf("concurrent build %d: digest %s, want %s", i, got[i], want)
		}
	}

	later := opt
	later.Epoch = opt.Epoch.Add(time.Hour)
	if d := digest(t, mustImage(t, later)); d == want {
		t.Error("a different Epoch gave the same digest")
	}
}

func TestEpochClamp(t *testing.T) {
	old := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	future := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	p := pkg(t, debtest.Package{Name: "times", Files: []debtest.File{
		{Path: "old", Body: []byte("o"), ModTime: old},
		{Path: "future", Body: []byte("f"), ModTime: future},
		{Path: "subsecond", Body: []byte("s"), ModTime: old.Add(500 * time.Millisecond)},
	}})
	tests := []struct {
		name     string
		epoch    time.Time
		old, fut time.Time
	}{
		{"explicit epoch clamps newer files", testEpoch(), old, testEpoch()},
		{"zero epoch is the newest mtime", time.Time{}, old, future},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img := mustImage(t, build.Options{Arch: "amd64", Packages: []build.Package{p}, Epoch: tc.epoch})
			hdrs, _ := layerHeaders(t, layers(t, img)[0])
			byName := map[string]*tar.Header{}
			for _, h := range hdrs {
				byName[h.Name] = h
			}
			if got := byName["old"].ModTime; !got.Equal(tc.old) {
				t.Errorf("old: mtime %v, want %v", got, tc.old)
			}
			if got := byName["future"].ModTime; !got.Equal(tc.fut) {
				t.Errorf("future: mtime %v, want %v", got, tc.fut)
			}
			if got := byName["subsecond"].ModTime; got.Nanosecond() != 0 || byName["subsecond"].PAXRecords != nil {
				t.Errorf("subsecond: mtime %v with PAX %v, want whole seconds in a plain header", got, byName["subsecond"].PAXRecords)
			}
			wantEpoch := tc.fut
			if got := byName["etc/passwd"].ModTime; !got.Equal(wantEpoch) {
				t.Errorf("generated etc/passwd: mtime %v, want the epoch %v", got, wantEpoch)
			}
			cf := configFile(t, img)
			if !cf.Created.Equal(wantEpoch) {
				t.Errorf("config created %v, want %v", cf.Created.Time, wantEpoch)
			}
			m, err := img.Manifest()
			if err != nil {
				t.Fatal(err)
			}
			if got := m.Annotations[build.AnnotationCreated]; got != wantEpoch.Format(time.RFC3339) {
				t.Errorf("created annotation %q", got)
			}
		})
	}
}

func TestTarNormalised(t *testing.T) {
	longName := "usr/share/" + strings.Repeat("very-long-directory-name/", 8) + "file"
	opt := fixture(t)
	opt.Packages = append(opt.Packages, pkg(t, debtest.Package{Name: "long", Files: []debtest.File{{Path: longName, Body: []byte("x")}}}))
	img := mustImage(t, opt)
	hdrs, data := layerHeaders(t, layers(t, img)[0])
	var names []string
	for _, h := range hdrs {
		names = append(names, h.Name)
		if strings.HasPrefix(h.Name, "./") || strings.HasPrefix(h.Name, "/") {
			t.Errorf("%s: name not relative", h.Name)
		}
		if (h.Typeflag == tar.TypeDir) != strings.HasSuffix(h.Name, "/") {
			t.Errorf("%s: directories and only directories end in /", h.Name)
		}
		if h.Uname != "" || h.Gname != "" {
			t.Errorf("%s: uname %q gname %q, want numeric owners only", h.Name, h.Uname, h.Gname)
		}
		if !h.AccessTime.IsZero() || !h.ChangeTime.IsZero() {
			t.Errorf("%s: atime/ctime recorded", h.Name)
		}
		if h.Format == tar.FormatGNU {
			t.Errorf("%s: GNU format", h.Name)
		}
		if len(h.Name) <= 100 && h.PAXRecords != nil {
			t.Errorf("%s: PAX records %v for a header USTAR can hold", h.Name, h.PAXRecords)
		}
		if h.ModTime.After(testEpoch()) {
			t.Errorf("%s: mtime %v after the epoch", h.Name, h.ModTime)
		}
	}
	trimmed := make([]string, len(names))
	for i, n := range names {
		trimmed[i] = strings.TrimSuffix(n, "/")
	}
	if !slices.IsSorted(trimmed) {
		t.Errorf("entries not in lexical order: %v", names)
	}
	seen := map[string]bool{}
	for _, n := range trimmed {
		if dir := parentDir(n); dir != "" && !seen[dir] {
			t.Errorf("%s comes before its parent %s", n, dir)
		}
		seen[n] = true
	}
	if !seen[longName] {
		t.Errorf("long name %s missing", longName)
	}

	// Hardlinks: the lexically first name carries the content, the other links to it.
	var ash, bb *tar.Header
	for _, h := range hdrs {
		switch h.Name {
		case "usr/bin/ash":
			ash = h
		case "usr/bin/busybox":
			bb = h
		}
	}
	if ash == nil || bb == nil {
		t.Fatal("busybox names missing")
	}
	if ash.Typeflag != tar.TypeReg || string(data["usr/bin/ash"]) != "busybox binary" || ash.Mode != 0o755 {
		t.Errorf("usr/bin/ash: %c mode %o %q, want the regular file", ash.Typeflag, ash.Mode, data["usr/bin/ash"])
	}
	if bb.Typeflag != tar.TypeLink || bb.Linkname != "usr/bin/ash" {
		t.Errorf("usr/bin/busybox: %c -> %q, want hardlink to usr/bin/ash", bb.Typeflag, bb.Linkname)
	}
}

func parentDir(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return ""
}

func TestConfig(t *testing.T) {
	img := mustImage(t, fixture(t))
	cf := configFile(t, img)
	if cf.OS != "linux" || cf.Architecture != "amd64" || cf.Variant != "" {
		t.Errorf("platform %s/%s/%s", cf.OS, cf.Architecture, cf.Variant)
	}
	c := cf.Config
	wantEnv := []string{"LANG=C.UTF-8", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"}
	if !slices.Equal(c.Env, wantEnv) {
		t.Errorf("Env = %q, want %q", c.Env, wantEnv)
	}
	if c.User != "65532:65532" {
		t.Errorf("User = %q, want 65532:65532", c.User)
	}
	if !slices.Equal(c.Entrypoint, []string{"/usr/local/bin/hello"}) || !slices.Equal(c.Cmd, []string{"--help"}) {
		t.Errorf("Entrypoint %q Cmd %q", c.Entrypoint, c.Cmd)
	}
	if c.WorkingDir != "/home/nonroot" || c.StopSignal != "SIGTERM" || c.Labels["org.example"] != "yes" {
		t.Errorf("WorkingDir %q StopSignal %q Labels %v", c.WorkingDir, c.StopSignal, c.Labels)
	}
	if len(cf.History) != 1 || !strings.HasPrefix(cf.History[0].CreatedBy, "ingot: 5 packages (base-files, libc6, libc-bin, busybox, ca-certificates)") {
		t.Errorf("history %+v", cf.History)
	}
	if !strings.Contains(cf.History[0].Comment, "libc6 2.41-12 sha256:00") {
		t.Errorf("history comment %q lacks package versions and digests", cf.History[0].Comment)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.MediaType != types.OCIManifestSchema1 || m.Config.MediaType != types.OCIConfigJSON || m.Layers[0].MediaType != types.OCILayer {
		t.Errorf("media types %s %s %s", m.MediaType, m.Config.MediaType, m.Layers[0].MediaType)
	}
	if m.Annotations["org.opencontainers.image.title"] != "fixture" || m.Annotations[build.AnnotationCreated] != "2024-06-01T00:00:00Z" {
		t.Errorf("annotations %v", m.Annotations)
	}
	if len(cf.RootFS.DiffIDs) != 1 {
		t.Fatalf("diff_ids %v", cf.RootFS.DiffIDs)
	}
	l := layers(t, img)[0]
	diffID, err := l.DiffID()
	if err != nil {
		t.Fatal(err)
	}
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	h, _, err := v1.SHA256(rc)
	if err != nil {
		t.Fatal(err)
	}
	if h != diffID || diffID != cf.RootFS.DiffIDs[0] {
		t.Errorf("diff ID %s, uncompressed sha256 %s, config %s", diffID, h, cf.RootFS.DiffIDs[0])
	}
	crc, err := l.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	defer crc.Close()
	d, size, err := v1.SHA256(crc)
	if err != nil {
		t.Fatal(err)
	}
	if d != m.Layers[0].Digest || size != m.Layers[0].Size {
		t.Errorf("compressed sha256 %s size %d, manifest says %s %d", d, size, m.Layers[0].Digest, m.Layers[0].Size)
	}
	// The stored gzip stream, read by the standard library, is the tar the diff ID names (Uncompressed
	// serves the kept tar, so this is the check that the two agree).
	crc2, err := l.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	zr, err := stdgzip.NewReader(crc2)
	if err != nil {
		t.Fatal(err)
	}
	if h2, _, err := v1.SHA256(zr); err != nil || h2 != diffID {
		t.Errorf("the gzip stream inflates to %s (%v), diff ID %s", h2, err, diffID)
	}
}

func TestAccounts(t *testing.T) {
	tests := []struct {
		name       string
		acc        build.Accounts
		wantErr    error
		passwd     string
		group      string
		user       string
		homes      map[string]int // path -> uid
		noHomePath string
	}{
		{
			name:   "default nonroot",
			acc:    nonroot(),
			passwd: "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n",
			group:  "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n",
			user:   "65532:65532",
			homes:  map[string]int{"root": 0, "home/nonroot": 65532},
		},
		{
			name: "custom users and members",
			acc: build.Accounts{
				Groups: []build.Group{{Name: "app", GID: 1000, Members: []string{"app", "ops"}}, {Name: "ops", GID: 1001}},
				Users:  []build.User{{Name: "app", UID: 1000, GID: 1000, Shell: "/bin/sh", Gecos: "App User"}, {Name: "ops", UID: 1001, GID: 1001, Home: "/srv/ops"}},
				RunAs:  "1000",
			},
			passwd: "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\napp:x:1000:1000:App User:/home/app:/bin/sh\nops:x:1001:1001:ops:/srv/ops:/sbin/nologin\n",
			group:  "root:x:0:\nnobody:x:65534:\napp:x:1000:app,ops\nops:x:1001:\n",
			user:   "1000:1000",
			homes:  map[string]int{"home/app": 1000, "srv/ops": 1001},
		},
		{name: "numeric run-as kept", acc: build.Accounts{RunAs: "4242:4343"}, user: "4242:4343"},
		{name: "run-as root by name", acc: build.Accounts{RunAs: "root"}, user: "0:0", noHomePath: "nonexistent"},
		{name: "duplicate user name", acc: build.Accounts{Users: []build.User{{Name: "a", UID: 1}, {Name: "a", UID: 2}}}, wantErr: build.ErrAccounts},
		{name: "duplicate uid", acc: build.Accounts{Users: []build.User{{Name: "a", UID: 1}, {Name: "b", UID: 1}}}, wantErr: build.ErrAccounts},
		{name: "uid of nobody", acc: build.Accounts{Users: []build.User{{Name: "x", UID: 65534}}}, wantErr: build.ErrAccounts},
		{name: "duplicate group", acc: build.Accounts{Groups: []build.Group{{Name: "g", GID: 1}, {Name: "g", GID: 2}}}, wantErr: build.ErrAccounts},
		{name: "duplicate gid", acc: build.Accounts{Groups: []build.Group{{Name: "g", GID: 0}}}, wantErr: build.ErrAccounts},
		{name: "colon in name", acc: build.Accounts{Users: []build.User{{Name: "a:b", UID: 1}}}, wantErr: build.ErrAccounts},
		{name: "unknown run-as", acc: build.Accounts{RunAs: "ghost"}, wantErr: build.ErrAccounts},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img, err := build.Image(context.Background(), build.Options{Arch: "arm64", Accounts: tc.acc, Epoch: testEpoch()})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			fsys := flatten(t, img)
			if tc.passwd != "" && string(fsys["etc/passwd"].data) != tc.passwd {
				t.Errorf("passwd:\n%s\nwant:\n%s", fsys["etc/passwd"].data, tc.passwd)
			}
			if tc.group != "" && string(fsys["etc/group"].data) != tc.group {
				t.Errorf("group:\n%s\nwant:\n%s", fsys["etc/group"].data, tc.group)
			}
			if got := configFile(t, img).Config.User; got != tc.user {
				t.Errorf("User = %q, want %q", got, tc.user)
			}
			for home, uid := range tc.homes {
				h := fsys[home].hdr
				if h == nil || h.Typeflag != tar.TypeDir || h.Mode != 0o700 || h.Uid != uid {
					t.Errorf("home %s: %+v, want a 0700 directory owned by %d", home, h, uid)
				}
			}
			if tc.noHomePath != "" {
				if _, ok := fsys[tc.noHomePath]; ok {
					t.Errorf("%s created", tc.noHomePath)
				}
			}
		})
	}
}

func TestOSRelease(t *testing.T) {
	rel := build.OSRelease{ID: "debian", Name: "Debian GNU/Linux", VersionID: "13", VersionCodename: "trixie"}
	want := "PRETTY_NAME=\"Debian GNU/Linux 13 (trixie)\"\nNAME=\"Debian GNU/Linux\"\nID=\"debian\"\nVERSION_ID=\"13\"\nVERSION_CODENAME=\"trixie\"\n"
	tests := []struct {
		name     string
		pkgs     []build.Package
		rel      build.OSRelease
		want     string // "" means no generated etc/os-release
		wantPath string
	}{
		{name: "fallback", rel: rel, want: want, wantPath: "etc/os-release"},
		{name: "package provides usr/lib/os-release", rel: rel, pkgs: []build.Package{pkg(t, debtest.Package{Name: "bf", Files: []debtest.File{{Path: "usr/lib/os-release", Body: []byte("ID=x\n")}}})}, wantPath: "usr/lib/os-release", want: "ID=x\n"},
		{name: "package provides etc/os-release", rel: rel, pkgs: []build.Package{pkg(t, debtest.Package{Name: "bf", Files: []debtest.File{{Path: "etc/os-release", Body: []byte("ID=y\n")}}})}, wantPath: "etc/os-release", want: "ID=y\n"},
		{name: "no ID, nothing written", rel: build.OSRelease{}},
		{name: "quoting", rel: build.OSRelease{ID: "x", Name: `a "b" $c`}, wantPath: "etc/os-release", want: "PRETTY_NAME=\"a \\\"b\\\" \\$c\"\nNAME=\"a \\\"b\\\" \\$c\"\nID=\"x\"\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := flatten(t, mustImage(t, build.Options{Arch: "amd64", Packages: tc.pkgs, OSRelease: tc.rel, Epoch: testEpoch()}))
			if tc.wantPath == "" {
				if _, ok := fsys["etc/os-release"]; ok {
					t.Error("etc/os-release written")
				}
				return
			}
			if got := string(fsys[tc.wantPath].data); got != tc.want {
				t.Errorf("%s = %q, want %q", tc.wantPath, got, tc.want)
			}
			if tc.wantPath != "etc/os-release" {
				if _, ok := fsys["etc/os-release"]; ok {
					t.Error("etc/os-release generated although a package ships os-release")
				}
			}
		})
	}
}

func TestCABundle(t *testing.T) {
	t.Run("only with ca-certificates", func(t *testing.T) {
		other := pkg(t, debtest.Package{Name: "certs-elsewhere", Files: []debtest.File{{Path: "usr/share/ca-certificates/x/a.crt", Body: []byte("A\n")}}})
		img := mustImage(t, build.Options{Arch: "amd64", Packages: []build.Package{other}, Epoch: testEpoch()})
		if _, ok := flatten(t, img)["etc/ssl/certs/ca-certificates.crt"]; ok {
			t.Error("bundle generated without ca-certificates")
		}
		for _, e := range configFile(t, img).Config.Env {
			if strings.HasPrefix(e, "SSL_CERT_FILE=") {
				t.Errorf("%s set without ca-certificates", e)
			}
		}
	})
	t.Run("a file provides the bundle", func(t *testing.T) {
		img := mustImage(t, build.Options{Arch: "amd64", Packages: []build.Package{caCertificates(t)}, Epoch: testEpoch(),
			Files: []build.File{{Path: "/etc/ssl/certs/ca-certificates.crt", Mode: 0o644, Data: []byte("mine\n")}}})
		if got := string(flatten(t, img)["etc/ssl/certs/ca-certificates.crt"].data); got != "mine\n" {
			t.Errorf("bundle = %q, want the caller's file", got)
		}
	})
}

func TestSymlinkResolution(t *testing.T) {
	tests := []struct {
		name    string
		pkgs    [][]debtest.File
		wantErr error
		errHas  string
		want    map[string]string // path -> content, or "-> target" for symlinks, "dir" for directories
		absent  []string
	}{
		{
			name: "merged /usr: bin/sh lands in usr/bin",
			pkgs: [][]debtest.File{{{Path: "usr/bin", Dir: true}, {Path: "bin", Symlink: "usr/bin"}}, {{Path: "bin/sh", Body: []byte("sh")}}},
			want: map[string]string{"usr/bin/sh": "sh", "bin": "-> usr/bin"}, absent: []string{"bin/sh"},
		},
		{
			name: "a package directory over a symlink keeps the symlink",
			pkgs: [][]debtest.File{{{Path: "usr/sbin", Dir: true}, {Path: "sbin", Symlink: "/usr/sbin"}}, {{Path: "sbin", Dir: true, Mode: 0o700}, {Path: "sbin/init", Body: []byte("i")}}},
			want: map[string]string{"sbin": "-> /usr/sbin", "usr/sbin/init": "i", "usr/sbin": "dir 0755"},
		},
		{
			name: "etc -> / stays inside the image",
			pkgs: [][]debtest.File{{{Path: "etc", Symlink: "/"}}, {{Path: "etc/x", Body: []byte("x")}}},
			want: map[string]string{"x": "x", "etc": "-> /"},
		},
		{
			name:    "lib -> ../../.. escapes",
			pkgs:    [][]debtest.File{{{Path: "lib", Symlink: "../../.."}}, {{RawName: "./lib/x", Body: []byte("x")}}},
			wantErr: build.ErrEscape, errHas: "package p1: entry lib/x",
		},
		{
			name:    "absolute target climbing above the root escapes",
			pkgs:    [][]debtest.File{{{Path: "usr/lib", Dir: true}, {Path: "opt", Symlink: "/usr/lib/../../.."}, {RawName: "./opt/x", Body: []byte("x")}}},
			wantErr: build.ErrEscape, errHas: "package p0: entry opt/x",
		},
		{
			name:    "a directory entry through an escaping symlink",
			pkgs:    [][]debtest.File{{{Path: "lib", Symlink: "../.."}}, {{Path: "lib/x", Body: []byte("x")}}},
			wantErr: build.ErrEscape, errHas: "package p1: entry lib",
		},
		{
			name:    "symlink loop",
			pkgs:    [][]debtest.File{{{Path: "a", Symlink: "b"}, {Path: "b", Symlink: "a"}, {Path: "a/x", Body: []byte("x")}}},
			wantErr: build.ErrSymlinkLoop,
		},
		{
			name:    "path below a regular file",
			pkgs:    [][]debtest.File{{{Path: "f", Body: []byte("f")}}, {{Path: "f/x", Body: []byte("x")}}},
			wantErr: build.ErrConflict,
		},
		{
			name:    "file over a directory",
			pkgs:    [][]debtest.File{{{Path: "d/x", Body: []byte("x")}}, {{Path: "d", Body: []byte("d")}}},
			wantErr: build.ErrConflict,
		},
		{
			name:    "hardlink to a missing file",
			pkgs:    [][]debtest.File{{{Path: "a", Hardlink: "missing"}}},
			wantErr: build.ErrHardlink,
		},
		{
			name:    "hardlink to a symlink",
			pkgs:    [][]debtest.File{{{Path: "s", Symlink: "t"}, {Path: "t", Body: []byte("t")}, {Path: "a", Hardlink: "s"}}},
			wantErr: build.ErrHardlink,
		},
		{
			name: "later packages overwrite files, symlinks are replaced not followed",
			pkgs: [][]debtest.File{
				{{Path: "etc/conf", Body: []byte("one")}, {Path: "etc/link", Symlink: "conf"}, {Path: "etc/d", Dir: true, Mode: 0o700}},
				{{Path: "etc/conf", Body: []byte("two")}, {Path: "etc/link", Body: []byte("now a file")}, {Path: "etc/d", Dir: true, Mode: 0o755}},
			},
			want: map[string]string{"etc/conf": "two", "etc/link": "now a file", "etc/d": "dir 0700"},
		},
		{
			name: "a hardlink keeps the old content when its target is overwritten",
			pkgs: [][]debtest.File{
				{{Path: "bin/a", Body: []byte("old")}, {Path: "bin/b", Hardlink: "bin/a"}},
				{{Path: "bin/a", Body: []byte("new")}},
			},
			want: map[string]string{"bin/a": "new", "bin/b": "old"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var pkgs []build.Package
			for i, files := range tc.pkgs {
				pkgs = append(pkgs, pkg(t, debtest.Package{Name: fmt.Sprintf("p%d", i), Files: files}))
			}
			img, err := build.Image(context.Background(), build.Options{Arch: "amd64", Packages: pkgs, Epoch: testEpoch()})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error %v, want %v", err, tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.errHas) {
					t.Errorf("error %q does not name %q", err, tc.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			fsys := flatten(t, img)
			for p, want := range tc.want {
				e, ok := fsys[p]
				if !ok {
					t.Errorf("%s missing", p)
					continue
				}
				var got string
				switch e.hdr.Typeflag {
				case tar.TypeSymlink:
					got = "-> " + e.hdr.Linkname
				case tar.TypeDir:
					got = fmt.Sprintf("dir %04o", e.hdr.Mode)
				default:
					got = string(e.data)
				}
				if got != want {
					t.Errorf("%s = %q, want %q", p, got, want)
				}
			}
			for _, p := range tc.absent {
				if _, ok := fsys[p]; ok {
					t.Errorf("%s exists", p)
				}
			}
		})
	}
}

func TestFilesAndPaths(t *testing.T) {
	base := []build.Package{baseFiles(t), busybox(t)}
	tests := []struct {
		name    string
		files   []build.File
		paths   []build.PathOp
		wantErr error
		check   map[string]string // path -> "type mode uid:gid [content|target]"
	}{
		{
			name:  "file overrides a package file through a symlinked parent",
			files: []build.File{{Path: "/bin/busybox", Mode: 0o4755, UID: 0, GID: 0, Data: []byte("patched")}},
			check: map[string]string{"usr/bin/busybox": "0 4755 0:0 patched", "usr/bin/ash": "0 0755 0:0 busybox binary"},
		},
		{
			name:  "missing parents are root 0755",
			files: []build.File{{Path: "/opt/a/b/c", Mode: 0o600, UID: 7, GID: 8, Data: []byte("c")}},
			check: map[string]string{"opt": "5 0755 0:0", "opt/a/b": "5 0755 0:0", "opt/a/b/c": "0 0600 7:8 c"},
		},
		{
			name:  "directory then symlink",
			paths: []build.PathOp{{Path: "/data", Type: build.PathDirectory, UID: 1, GID: 2}, {Path: "/data/current", Type: build.PathSymlink, Target: "../etc"}},
			check: map[string]string{"data": "5 0755 1:2", "data/current": "2 0777 0:0 ../etc"},
		},
		{
			name:  "permissions follow a symlink and recurse",
			files: []build.File{{Path: "/srv/x/y", Mode: 0o644, Data: []byte("y")}},
			paths: []build.PathOp{{Path: "/srv", Type: build.PathPermissions, Mode: 0o750, UID: 9, GID: 9, Recursive: true}},
			check: map[string]string{"srv": "5 0750 9:9", "srv/x": "5 0750 9:9", "srv/x/y": "0 0750 9:9 y"},
		},
		{
			name:  "permissions without mode change only the owner",
			paths: []build.PathOp{{Path: "/bin/busybox", Type: build.PathPermissions, UID: 3, GID: 4}},
			check: map[string]string{"usr/bin/busybox": "1 0755 3:4 busybox binary", "usr/bin/ash": "0 0755 3:4 busybox binary"},
		},
		{
			name:    "permissions on a missing path",
			paths:   []build.PathOp{{Path: "/nope", Type: build.PathPermissions}},
			wantErr: build.ErrNotFound,
		},
		{
			name:    "file over a directory",
			files:   []build.File{{Path: "/usr/bin", Mode: 0o644, Data: []byte("x")}},
			wantErr: build.ErrConflict,
		},
		{
			name:    "relative file path",
			files:   []build.File{{Path: "etc/x", Mode: 0o644}},
			wantErr: build.ErrInvalidOptions,
		},
		{
			name:    "unknown path type",
			paths:   []build.PathOp{{Path: "/x", Type: "fifo"}},
			wantErr: build.ErrInvalidOptions,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img, err := build.Image(context.Background(), build.Options{Arch: "amd64", Packages: base, Files: tc.files, Paths: tc.paths, Epoch: testEpoch()})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			fsys := flatten(t, img)
			for p, want := range tc.check {
				e, ok := fsys[p]
				if !ok {
					t.Errorf("%s missing", p)
					continue
				}
				got := fmt.Sprintf("%c %04o %d:%d", e.hdr.Typeflag, e.hdr.Mode, e.hdr.Uid, e.hdr.Gid)
				switch e.hdr.Typeflag {
				case tar.TypeSymlink:
					got += " " + e.hdr.Linkname
				case tar.TypeReg:
					got += " " + string(e.data)
				case tar.TypeLink:
					got += " " + string(fsys[e.hdr.Linkname].data)
				}
				if got != want {
					t.Errorf("%s = %q, want %q", p, got, want)
				}
			}
		})
	}
}

func TestPackageChecks(t *testing.T) {
	hello := debtest.Package{Name: "hello", Version: "1.0", Arch: "arm64", Files: []debtest.File{{Path: "x", Body: []byte("x")}}}
	tests := []struct {
		name    string
		opt     build.Options
		wantErr error
	}{
		{"architecture mismatch", build.Options{Arch: "amd64", Packages: []build.Package{pkg(t, hello)}}, build.ErrInvalidPackage},
		{"name mismatch", build.Options{Arch: "arm64", Packages: []build.Package{func() build.Package { p := pkg(t, hello); p.Name = "other"; return p }()}}, build.ErrInvalidPackage},
		{"same package twice", build.Options{Arch: "arm64", Packages: []build.Package{pkg(t, hello), pkg(t, hello)}}, build.ErrInvalidOptions},
		{"unknown architecture", build.Options{Arch: "vax"}, build.ErrInvalidOptions},
		{"not a deb", build.Options{Arch: "amd64", Packages: []build.Package{{Name: "junk", Deb: []byte("junk")}}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := build.Image(context.Background(), tc.opt)
			if err == nil {
				t.Fatal("no error")
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := build.Image(ctx, fixture(t)); !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
}
