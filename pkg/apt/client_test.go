package apt_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/ingot-build/ingot/internal/debtest"
	"github.com/ingot-build/ingot/internal/testrepo"
	"github.com/ingot-build/ingot/pkg/apt"
)

// samplePackages is a small universe: an arch-specific library, a binary depending on it, and an
// arch-independent package that must appear in every binary-<arch> index.
func samplePackages() []debtest.Package {
	return []debtest.Package{
		{Name: "libhello1", Version: "1.0-1", Arch: "amd64", Source: "hello", Section: "libs",
			Files: []debtest.File{{Path: "usr/lib/libhello.so.1", Body: []byte("lib")}}},
		{Name: "hello", Version: "1:1.0-1", Arch: "amd64", Depends: "libhello1 (>= 1.0), hello-data", Priority: "optional",
			Files: []debtest.File{{Path: "usr/bin/hello", Mode: 0o755, Body: []byte("#!/bin/sh\necho hello\n")}}},
		{Name: "hello-data", Version: "1.0-1", Arch: "all", Source: "hello (1.0-1)", MultiArch: "foreign",
			Files: []debtest.File{{Path: "usr/share/hello/greeting", Body: []byte("hello\n")}}},
		{Name: "libhello1", Version: "1.0-1", Arch: "arm64", Source: "hello",
			Files: []debtest.File{{Path: "usr/lib/libhello.so.1", Body: []byte("lib-arm64")}}},
	}
}

func fingerprint(e *openpgp.Entity) string { return hex.EncodeToString(e.PrimaryKey.Fingerprint) }

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// resignInRelease replaces the repository's InRelease with the same text clearsigned by keys, in order.
func resignInRelease(t *testing.T, r *testrepo.Repo, keys ...*openpgp.Entity) {
	t.Helper()
	r.Tamper(t, "dists/stable/InRelease", func(b []byte) []byte {
		block, _ := clearsign.Decode(b)
		if block == nil {
			t.Fatal("InRelease is not clearsigned")
		}
		var priv []*packet.PrivateKey
		for _, k := range keys {
			priv = append(priv, k.PrivateKey)
		}
		var out bytes.Buffer
		w, err := clearsign.EncodeMulti(&out, priv, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(append(block.Plaintext, '\n')); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return out.Bytes()
	})
}

// writeKeyring writes the public keys as a binary (.gpg) or ASCII-armored (.asc) keyring file.
func writeKeyring(t *testing.T, armored bool, keys ...*openpgp.Entity) string {
	t.Helper()
	var b bytes.Buffer
	var w io.Writer = &b
	var a io.WriteCloser
	name := filepath.Join(t.TempDir(), "keyring.gpg")
	if armored {
		var err error
		if a, err = armor.Encode(&b, openpgp.PublicKeyType, nil); err != nil {
			t.Fatal(err)
		}
		w, name = a, strings.TrimSuffix(name, ".gpg")+".asc"
	}
	for _, k := range keys {
		if err := k.Serialize(w); err != nil {
			t.Fatal(err)
		}
	}
	if a != nil {
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(name, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

func TestRelease(t *testing.T) {
	now := time.Now()
	// validUntil is in whole seconds, as Release files write it, and after the signature was made, so
	// that a clock set past it still accepts the signature and only Valid-Until can refuse it.
	validUntil := now.Add(time.Hour).Truncate(time.Second)
	tests := []struct {
		name string
		opt  testrepo.Options
		// setup may tamper with the repository and returns the source to ask for.
		setup   func(t *testing.T, r *testrepo.Repo) apt.Source
		now     time.Time
		wantErr error
		errText string // also required in the message
		check   func(t *testing.T, r *testrepo.Repo, rel *apt.Release)
	}{
		{
			name: "InRelease",
			check: func(t *testing.T, r *testrepo.Repo, rel *apt.Release) {
				in, err := os.ReadFile(filepath.Join(r.Dir, "dists/stable/InRelease"))
				if err != nil {
					t.Fatal(err)
				}
				if rel.Digest != "sha256:"+sha256hex(in) {
					t.Errorf("Digest = %s, want sha256 of the InRelease served", rel.Digest)
				}
				if rel.Signer != fingerprint(r.Key) {
					t.Errorf("Signer = %s, want %s", rel.Signer, fingerprint(r.Key))
				}
				if rel.Suite != "stable" || rel.Codename != "ingot-test" || rel.Origin != "ingot-test" {
					t.Errorf("Release = %+v", rel)
				}
				for _, p := range []string{"main/binary-amd64/Packages.xz", "main/binary-amd64/Packages.gz", "main/binary-amd64/Packages"} {
					if _, ok := rel.Files[p]; !ok {
						t.Errorf("Files lacks %s", p)
					}
				}
				if got := r.Requests(); len(got) != 1 || got[0] != "dists/stable/InRelease" {
					t.Errorf("requests = %q, want only the InRelease", got)
				}
			},
		},
		{
			name: "Release and Release.gpg",
			opt:  testrepo.Options{Detached: true},
			check: func(t *testing.T, r *testrepo.Repo, rel *apt.Release) {
				plain, err := os.ReadFile(filepath.Join(r.Dir, "dists/stable/Release"))
				if err != nil {
					t.Fatal(err)
				}
				if rel.Digest != "sha256:"+sha256hex(plain) {
					t.Errorf("Digest = %s, want sha256 of Release", rel.Digest)
				}
				if rel.Signer != fingerprint(r.Key) {
					t.Errorf("Signer = %s", rel.Signer)
				}
			},
		},
		{
			name:  "asked by codename",
			setup: func(t *testing.T, r *testrepo.Repo) apt.Source { return copySuite(t, r, "ingot-test") },
		},
		{
			name: "valid until later",
			opt:  testrepo.Options{ValidUntil: now.Add(24 * time.Hour)},
			check: func(t *testing.T, r *testrepo.Repo, rel *apt.Release) {
				checkTime(t, rel.ValidUntil, now.Add(24*time.Hour))
			},
		},
		{
			name: "armored keyring",
			setup: func(t *testing.T, r *testrepo.Repo) apt.Source {
				s := r.Source
				s.Keyring = writeKeyring(t, true, r.Key)
				return s
			},
		},
		{
			name: "key found in the second of several keyrings",
			setup: func(t *testing.T, r *testrepo.Repo) apt.Source {
				s := r.Source
				s.Keyring, s.Keyrings = writeKeyring(t, false, testrepo.NewKey(t)), []string{r.Keyring}
				return s
			},
		},
		{
			// During a key rollover an archive signs with the old and the new key. An expired old key
			// listed first must not hide the good signature after it.
			name: "expired key signs first, valid key second",
			now:  now.Add(2 * time.Hour),
			setup: func(t *testing.T, r *testrepo.Repo) apt.Source {
				old, err := openpgp.NewEntity("old", "", "old@ingot.invalid", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, KeyLifetimeSecs: 60})
				if err != nil {
					t.Fatal(err)
				}
				resignInRelease(t, r, old, r.Key)
				s := r.Source
				s.Keyring, s.Keyrings = writeKeyring(t, false, old), []string{r.Keyring}
				return s
			},
			check: func(t *testing.T, r *testrepo.Repo, rel *apt.Release) {
				if rel.Signer != fingerprint(r.Key) {
					t.Errorf("Signer = %s, want the valid key %s", rel.Signer, fingerprint(r.Key))
				}
			},
		},
		{
			name:    "signed by another key",
			opt:     testrepo.Options{SignWith: testrepo.NewKey(t)},
			wantErr: apt.ErrSignature,
		},
		{
			name:    "Release.gpg by another key",
			opt:     testrepo.Options{Detached: true, SignWith: testrepo.NewKey(t)},
			wantErr: apt.ErrSignature,
		},
		{
			// A good signature by the right key, but over other bytes: another suite's Release.
			name: "Release.gpg by the right key over other bytes",
			opt:  testrepo.Options{Detached: true},
			setup: func(t *testing.T, r *testrepo.Repo) apt.Source {
				r.Tamper(t, "dists/stable/Release.gpg", func([]byte) []byte {
					var sig bytes.Buffer
					if err := openpgp.ArmoredDetachSign(&sig, r.Key, strings.NewReader("Suite: other\n"), nil); err != nil {
						t.Fatal(err)
					}
					return sig.Bytes()
				})
				return r.Source
			},
			wantErr: apt.ErrSignature,
		},
		{
			name: "Release changed after Release.gpg was made",
			opt:  testrepo.Options{Detached: true},
			setup: func(t *testing.T, r *testrepo.Repo) apt.Source {
				r.Tamper(t, "dists/stable/Release", func(b []byte) []byte {
					return bytes.Replace(b, []byte("Origin: ingot-test"), []byte("Origin: ingot-evil"), 1)
				})
				return r.Source
			},
			wantErr: apt.ErrSignature,
		},
		{
			name: "Release.gpg truncated",
			opt:  testrepo.Options{Detached: true},
			setup: func(t *testing.T, r *testrepo.Repo) apt.Source {
				r.Tamper(t, "dists/stable/Release.gpg", func(b []byte) []byte {
					block, err := armor.Decode(bytes.NewReader(b))
					if err != nil {
						t.Fatal(err)
					}
					raw, err := io.ReadAll(block.Body)
					if err != nil {
						t.Fatal(err)
					}
					return raw[:len(raw)/2] // binary, as apt also accepts, and cut short
				})
				return r.Source
			},
			wantErr: apt.ErrSignature,
		},
		{
			name: "only signed by an expired key",
			now:  now.Add(2 * time.Hour),
			setup: func(t *testing.T, r *testrepo.Repo) apt.Source {
				old, err := openpgp.NewEntity("old", "", "old@ingot.invalid", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, KeyLifetimeSecs: 60})
				if err != nil {
					t.Fatal(err)
				}
				resignInRelease(t, r, old)
				s := r.Source
				s.Keyring = writeKeyring(t, false, old)
				return s
			},
			wantErr: apt.ErrSignature,
		},
		{
			name: "unsigned InRelease",
			setup: func(t *testing.T, r *testrepo.Repo) apt.Source {
				r.Tamper(t, "dists/stable/InRelease", func(b []byte) []byte {
					block, _ := clearsign.Decode(b)
					return block.Plaintext
				})
				return r.Source
			},
			wantErr: apt.ErrSignature,
		},
		{
			name: "signed text changed",
			setup: func(t *testing.T, r *testrepo.Repo) apt.Source {
				r.Tamper(t, "dists/stable/InRelease", func(b []byte) []byte {
					return bytes.Replace(b, []byte("Origin: ingot-test"), []byte("Origin: ingot-evil"), 1)
				})
				return r.Source
			},
			wantErr: apt.ErrSignature,
		},
		{
			name: "garbled signature",
			setup: func(t *testing.T, r *testrepo.Repo) apt.Source {
				r.Tamper(t, "dists/stable/InRelease", func(b []byte) []byte {
					i := bytes.Index(b, []byte("-----BEGIN PGP SIGNATURE-----"))
					return append(b[:i:i], "-----BEGIN PGP SIGNATURE-----\n\nnot base64 at all\n-----END PGP SIGNATURE-----\n"...)
				})
				return r.Source
			},
			wantErr: apt.ErrSignature,
		},
		{
			name: "unsigned text after the signature",
			setup: func(t *testing.T, r *testrepo.Repo) apt.Source {
				r.Tamper(t, "dists/stable/InRelease", func(b []byte) []byte { return append(b, "Suite: evil\n"...) })
				return r.Source
			},
			wantErr: apt.ErrSignature,
		},
		{
			name: "unsigned text before the signed message",
			setup: func(t *testing.T, r *testrepo.Repo) apt.Source {
				r.Tamper(t, "dists/stable/InRelease", func(b []byte) []byte { return append([]byte("Suite: evil\n\n"), b...) })
				return r.Source
			},
			wantErr: apt.ErrSignature,
		},
		{
			name: "no InRelease and no Release.gpg",
			opt:  testrepo.Options{Detached: true},
			setup: func(t *testing.T, r *testrepo.Repo) apt.Source {
				r.FailWith("dists/stable/Release.gpg", http.StatusNotFound)
				return r.Source
			},
			wantErr: apt.ErrSignature,
			errText: "unsigned",
		},
		{
			name:    "expired",
			opt:     testrepo.Options{ValidUntil: time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)},
			wantErr: apt.ErrExpired,
			errText: "Fri, 01 Mar 2024 12:00:00 UTC",
		},
		{
			name:    "expired one second ago",
			opt:     testrepo.Options{ValidUntil: validUntil},
			now:     validUntil.Add(time.Second),
			wantErr: apt.ErrExpired,
		},
		{
			name: "valid for one more second",
			opt:  testrepo.Options{ValidUntil: validUntil},
			now:  validUntil.Add(-time.Second),
		},
		{
			name:    "Release and Release.gpg expired",
			opt:     testrepo.Options{Detached: true, ValidUntil: validUntil},
			now:     validUntil.Add(time.Minute),
			wantErr: apt.ErrExpired,
		},
		{
			name:    "another suite's Release replayed",
			setup:   func(t *testing.T, r *testrepo.Repo) apt.Source { return copySuite(t, r, "testing") },
			wantErr: apt.ErrWrongSuite,
		},
		{
			name: "missing keyring file",
			setup: func(t *testing.T, r *testrepo.Repo) apt.Source {
				s := r.Source
				s.Keyring = filepath.Join(t.TempDir(), "nope.gpg")
				return s
			},
			wantErr: fs.ErrNotExist,
			errText: "nope.gpg",
		},
		{
			name: "no keyring",
			setup: func(t *testing.T, r *testrepo.Repo) apt.Source {
				s := r.Source
				s.Keyring = ""
				return s
			},
			wantErr: apt.ErrSource,
		},
		{
			name:    "suite missing",
			setup:   func(t *testing.T, r *testrepo.Repo) apt.Source { s := r.Source; s.Suite = "nonexistent"; return s },
			wantErr: apt.ErrNotFound,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := testrepo.New(t, tt.opt)
			src := r.Source
			if tt.setup != nil {
				src = tt.setup(t, r)
			}
			c := &apt.Client{}
			if !tt.now.IsZero() {
				c.Now = func() time.Time { return tt.now }
			}
			rel, err := c.Release(context.Background(), src)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.errText) {
					t.Errorf("err = %v, want it to say %q", err, tt.errText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				tt.check(t, r, rel)
			}
		})
	}
}

// TestReleaseServerError checks that a server failure is reported as such, not as a missing file: a
// 500 on InRelease must not make the client fall back to an unsigned-looking Release.
func TestReleaseServerError(t *testing.T) {
	for _, status := range []int{http.StatusInternalServerError, http.StatusTooManyRequests, http.StatusForbidden} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			r := testrepo.New(t, testrepo.Options{})
			r.FailWith("dists/stable/InRelease", status)
			_, err := (&apt.Client{}).Release(context.Background(), r.Source)
			var se *apt.StatusError
			if !errors.As(err, &se) || se.StatusCode != status {
				t.Fatalf("err = %v, want a StatusError %d", err, status)
			}
			if errors.Is(err, apt.ErrNotFound) {
				t.Errorf("a %d is reported as ErrNotFound", status)
			}
			for _, p := range r.Requests() {
				if strings.HasSuffix(p, "/Release") {
					t.Errorf("fell back to %s after a %d", p, status)
				}
			}
		})
	}
}

// copySuite publishes the repository's dists/stable again as dists/<suite>, unchanged and still signed,
// and returns a source asking for that suite.
func copySuite(t *testing.T, r *testrepo.Repo, suite string) apt.Source {
	t.Helper()
	if err := os.CopyFS(filepath.Join(r.Dir, "dists", suite), os.DirFS(filepath.Join(r.Dir, "dists", "stable"))); err != nil {
		t.Fatal(err)
	}
	s := r.Source
	s.Suite = suite
	return s
}

func checkTime(t *testing.T, got, want time.Time) {
	t.Helper()
	if d := got.Sub(want); d > time.Second || d < -time.Second {
		t.Errorf("time = %v, want %v", got, want)
	}
}

func writeFile(name string, data []byte) error { return os.WriteFile(name, data, 0o644) }

// updateExample regenerates testdata/example, the signed repository ExampleClient reads.
var updateExample = flag.Bool("update-example", false, "regenerate testdata/example from internal/testrepo")

func TestExampleFixture(t *testing.T) {
	if !*updateExample {
		t.Skip("run with -update-example to regenerate testdata/example")
	}
	r := testrepo.New(t, testrepo.Options{Packages: samplePackages()})
	dst := filepath.Join("testdata", "example")
	if err := os.RemoveAll(dst); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(filepath.Join(dst, "archive"), os.DirFS(r.Dir)); err != nil {
		t.Fatal(err)
	}
	kr, err := os.ReadFile(r.Keyring)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dst, "keyring.gpg"), kr, 0o644); err != nil {
		t.Fatal(err)
	}
}

// ExampleClient locks a suite's package list and fetches a package, from a signed repository on disk.
func ExampleClient() {
	ctx := context.Background()
	dir, err := filepath.Abs(filepath.Join("testdata", "example"))
	if err != nil {
		log.Fatal(err)
	}
	src := apt.Source{
		URL:     "file://" + filepath.ToSlash(dir) + "/archive",
		Suite:   "stable",
		Keyring: filepath.Join(dir, "keyring.gpg"),
	}.WithDefaults()

	c := &apt.Client{}
	rel, err := c.Release(ctx, src) // verified before it is parsed
	if err != nil {
		log.Fatal(err)
	}
	idx, pkgs, err := c.Packages(ctx, src, rel, "main", "amd64") // size and sha256 checked against rel
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(rel.Suite, rel.Codename, idx.Path)
	slices.SortFunc(pkgs, func(a, b *apt.Package) int { return strings.Compare(a.Name, b.Name) })
	for _, p := range pkgs {
		fmt.Println(p.Name, p.Version, p.Architecture)
	}

	cacheDir, err := os.MkdirTemp("", "ingot-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = os.RemoveAll(cacheDir) }()
	cache := &apt.Cache{Dir: cacheDir}
	hello := pkgs[0]
	err = cache.Fetch(ctx, []apt.Download{{Name: hello.Name, URL: src.URLFor(hello.Filename), Size: hello.Size, SHA256: hello.SHA256}}, apt.FetchOptions{})
	if err != nil {
		log.Fatal(err)
	}
	deb, err := cache.ReadVerified(hello.SHA256)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(deb[:8]) == "!<arch>\n")
	// Output:
	// stable ingot-test main/binary-amd64/Packages.gz
	// hello 1:1.0-1 amd64
	// hello-data 1.0-1 all
	// libhello1 1.0-1 amd64
	// true
}
