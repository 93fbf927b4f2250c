package cli

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ingot-build/ingot/internal/debtest"
	"github.com/ingot-build/ingot/internal/testrepo"
	"github.com/ingot-build/ingot/pkg/lock"
	"github.com/ingot-build/ingot/pkg/store"
)

// poolPath finds the pool Filename of a package's .deb in a fixture repository.
func poolPath(t *testing.T, repo *testrepo.Repo, prefix string) string {
	t.Helper()
	for p := range repo.Debs {
		if strings.HasPrefix(filepath.Base(p), prefix) {
			return p
		}
	}
	t.Fatalf("no .deb named %s* in the fixture repository", prefix)
	return ""
}

// TestBadInput feeds ingot broken repositories, packages and specs. Each must fail with its own clear
// error and leave no lock (when locking) and no image (when building) behind.
func TestBadInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		// opt and packages shape the repository; spec overrides specTemplate.
		opt  testrepo.Options
		spec string
		// packages changes the fixture packages before the repository is published.
		packages func(pkgs []debtest.Package)
		// prepare runs after a successful lock, for build-time cases; nil means the lock itself fails.
		prepare func(t *testing.T, repo *testrepo.Repo, dir, data string)
		// breakRepo runs before locking.
		breakRepo func(t *testing.T, repo *testrepo.Repo)
		want      string
		exit      int
	}{
		{
			name: "bad signature",
			opt:  testrepo.Options{SignWith: testrepo.NewKey(t)},
			want: "signature", exit: ExitFailure,
		},
		{
			name: "expired Release",
			opt:  testrepo.Options{ValidUntil: time.Now().Add(-time.Hour), Date: time.Now().Add(-48 * time.Hour)},
			want: "expired", exit: ExitFailure,
		},
		{
			name: "tampered Packages index",
			breakRepo: func(t *testing.T, repo *testrepo.Repo) {
				for _, c := range []string{"Packages.xz", "Packages.gz"} {
					repo.Tamper(t, "dists/stable/main/binary-amd64/"+c, func(b []byte) []byte { b[len(b)/2] ^= 0xff; return b })
				}
			},
			want: "sha256 mismatch", exit: ExitFailure,
		},
		{
			name: "unknown package",
			spec: strings.Replace(specTemplate, "[base-files, app]", "[base-files, app, no-such-package]", 1),
			want: "no-such-package", exit: ExitFailure,
		},
		{
			name: "conflict",
			spec: strings.Replace(specTemplate, "[base-files, app]", "[base-files, app, app-ng]", 1),
			want: "conflict", exit: ExitFailure,
		},
		{
			name: "tampered .deb",
			prepare: func(t *testing.T, repo *testrepo.Repo, _, _ string) {
				repo.Tamper(t, poolPath(t, repo, "app_"), func(b []byte) []byte { b[len(b)-1] ^= 0xff; return b })
			},
			want: "app", exit: ExitFailure,
		},
		{
			// One byte of a file's content changed, the archive still valid and of the locked size:
			// only the sha256 tells, and the image would ship the changed file.
			name:     "repository serves a .deb of the locked size with one byte changed",
			packages: uncompressedApp,
			prepare: func(t *testing.T, repo *testrepo.Repo, _, _ string) {
				repo.Tamper(t, poolPath(t, repo, "app_"), changeAppBinary(t))
			},
			want: "sha256 mismatch", exit: ExitFailure,
		},
		{
			// The cached .deb is changed after a first build; the layout is gone, so the next build
			// assembles the image again from the cache, which it must not trust.
			name:     "cached .deb changed after a build",
			packages: uncompressedApp,
			prepare: func(t *testing.T, repo *testrepo.Repo, dir, data string) {
				if _, stderr, err := run(t, "--data-dir", data, "build", dir); err != nil {
					t.Fatalf("first build: %v\n%s", err, stderr)
				}
				sum := sha256.Sum256(repo.Debs[poolPath(t, repo, "app_")])
				cached := store.Store{Root: data}.Packages().Path(hex.EncodeToString(sum[:]))
				b, err := os.ReadFile(cached)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(cached, changeAppBinary(t)(b), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.RemoveAll(store.Store{Root: data}.Layouts().Dir("fixture")); err != nil {
					t.Fatal(err)
				}
			},
			want: "sha256 mismatch", exit: ExitFailure,
		},
		{
			name: "truncated .deb whose lock matches it",
			prepare: func(t *testing.T, repo *testrepo.Repo, dir, _ string) {
				p := poolPath(t, repo, "app_")
				var truncated []byte
				repo.Tamper(t, p, func(b []byte) []byte { truncated = b[:len(b)-40]; return truncated })
				relock(t, dir, "app", truncated)
			},
			want: "malformed", exit: ExitFailure,
		},
		{
			name:    "path traversal entry",
			spec:    strings.Replace(specTemplate, "[base-files, app]", "[base-files, evil]", 1),
			prepare: func(*testing.T, *testrepo.Repo, string, string) {},
			want:    "escapes", exit: ExitFailure,
		},
		{
			name: "stale lock",
			prepare: func(t *testing.T, _ *testrepo.Repo, dir, _ string) {
				p := filepath.Join(dir, "ingot.yaml")
				b, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(strings.Replace(string(b), "[base-files, app]", "[base-files, app, tzdata]", 1)), 0o644); err != nil {
					t.Fatal(err)
				}
			},
			want: "lock does not match the spec", exit: ExitUsage,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opt := tc.opt
			opt.Packages = append(fixturePackages(),
				debtest.Package{Name: "app-ng", Version: "2.0-1", Arch: "amd64", Conflicts: "app", Files: []debtest.File{{Path: "usr/bin/app-ng", Body: []byte("ng")}}},
				debtest.Package{Name: "evil", Version: "1.0", Arch: "amd64", Files: []debtest.File{{RawName: "./usr/../../../etc/cron.d/evil", Body: []byte("* * * * * root id\n")}}},
			)
			if tc.packages != nil {
				tc.packages(opt.Packages)
			}
			repo := testrepo.New(t, opt)
			if tc.breakRepo != nil {
				tc.breakRepo(t, repo)
			}
			spec := tc.spec
			if spec == "" {
				spec = specTemplate
			}
			dir := writeSpec(t, repo, spec)
			data := t.TempDir()
			lockPath := filepath.Join(dir, "ingot.lock")

			verb := "lock"
			if tc.prepare != nil {
				if _, stderr, err := run(t, "--data-dir", data, "lock", dir); err != nil {
					t.Fatalf("lock: %v\n%s", err, stderr)
				}
				tc.prepare(t, repo, dir, data)
				verb = "build"
			}
			before, _ := os.ReadFile(lockPath)
			_, _, err := run(t, "--data-dir", data, verb, dir)
			if err == nil {
				t.Fatalf("%s succeeded, want an error containing %q", verb, tc.want)
			}
			t.Logf("%s: %v", verb, err)
			if !strings.Contains(strings.ToLower(err.Error()), tc.want) {
				t.Errorf("%s error = %q, want it to contain %q", verb, err, tc.want)
			}
			if got := ExitCode(err); got != tc.exit {
				t.Errorf("exit code = %d, want %d", got, tc.exit)
			}
			after, statErr := os.ReadFile(lockPath)
			switch {
			case verb == "lock" && !errors.Is(statErr, os.ErrNotExist):
				t.Errorf("a failed lock left %s behind", lockPath)
			case verb == "build" && string(before) != string(after):
				t.Error("a failed build changed the lock")
			}
			if _, err := os.Stat(store.Store{Root: data}.Layouts().Dir("fixture")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a failed %s left an image layout behind", verb)
			}
		})
	}
}

// uncompressedApp stores the app package's files uncompressed, so that changing a byte of their
// content leaves a valid .deb.
func uncompressedApp(pkgs []debtest.Package) {
	for i := range pkgs {
		if pkgs[i].Name == "app" {
			pkgs[i].Compression = "none"
		}
	}
}

// changeAppBinary changes one byte of /usr/bin/app in an uncompressed app .deb.
func changeAppBinary(t *testing.T) func([]byte) []byte {
	return func(b []byte) []byte {
		i := bytes.Index(b, []byte("app binary"))
		if i < 0 {
			t.Fatal("the .deb does not hold /usr/bin/app uncompressed")
		}
		b[i+4] = 'B'
		return b
	}
}

// relock rewrites the lock so that it pins data as the named package: a repository that serves a
// signed but broken .deb, which only the archive reader can catch.
func relock(t *testing.T, dir, name string, data []byte) {
	t.Helper()
	p := filepath.Join(dir, "ingot.lock")
	l, err := lock.Read(p)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	for i, pkg := range l.Archs["amd64"].Packages {
		if pkg.Name == name {
			l.Archs["amd64"].Packages[i].SHA256 = hex.EncodeToString(sum[:])
			l.Archs["amd64"].Packages[i].Size = int64(len(data))
		}
	}
	if err := l.Write(p); err != nil {
		t.Fatal(err)
	}
}
