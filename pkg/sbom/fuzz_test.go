package sbom

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ingot-build/ingot/pkg/evidence"
	"github.com/ingot-build/ingot/pkg/imageref"
)

// The parsers below read files from images and documents that anyone can make. Seed corpora are under
// testdata/fuzz/<FuzzName>; run e.g. go test -fuzz=FuzzReaders ./pkg/sbom.

// FuzzReaders feeds each reader arbitrary content: no panic, and every package it returns has a
// name and a version.
func FuzzReaders(f *testing.F) {
	f.Add(uint8(0), []byte("Package: a\nVersion: 1\nStatus: install ok installed\n\nPackage: b\n"))
	f.Add(uint8(1), []byte("P:musl\nV:1.2.4-r2\nA:x86_64\no:musl\nL:MIT\n\n"))
	f.Add(uint8(2), []byte(`{"name":"@s/x","version":"1.0.0","license":{"type":"MIT"}}`))
	f.Add(uint8(3), []byte(`{"lockfileVersion":3,"packages":{"node_modules/a":{"version":"1.0.0"}}}`))
	f.Add(uint8(4), []byte("Name: x\nVersion: 1\nLicense: MIT\n\nbody"))
	readers := []struct {
		c    reader
		path string
	}{
		{debianReader{}, dpkgStatus},
		{alpineReader{}, apkInstalled},
		{npmReader{}, "node_modules/x/package.json"},
		{npmReader{}, "app/package-lock.json"},
		{pythonReader{}, "x.dist-info/METADATA"},
	}
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		c := readers[int(which)%len(readers)]
		pkgs, err := c.c.parse(c.path, bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, p := range pkgs {
			if p.Name == "" || p.Version == "" || p.Type == "" {
				t.Fatalf("%T returned an incomplete package %+v", c.c, p)
			}
			finish(&p, &evidence.Distro{ID: "debian", VersionID: "12"})
			if _, _, err := fromPURL(p.PURL); err != nil {
				t.Fatalf("package URL %q does not parse back: %v", p.PURL, err)
			}
		}
	})
}

// FuzzOSRelease: no panic; a distro always has an ID.
func FuzzOSRelease(f *testing.F) {
	f.Add([]byte("ID=debian\nVERSION_ID=\"12\"\n"))
	f.Add([]byte("ID='x'\nPRETTY_NAME=\"a \\\"b\\\"\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if d := parseOSRelease(data); d != nil && d.ID == "" {
			t.Fatal("distro without ID")
		}
	})
}

// FuzzDecode: no panic on any document, in Decode or the validators, and every decoded package has a
// type, a name and a purl.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"bomFormat":"CycloneDX","components":[{"type":"library","name":"x","purl":"pkg:npm/x@1"}]}`))
	f.Add([]byte(`{"spdxVersion":"SPDX-2.3","packages":[{"name":"x","SPDXID":"SPDXRef-x","externalRefs":[{"referenceCategory":"PACKAGE-MANAGER","referenceType":"purl","referenceLocator":"pkg:deb/debian/x@1?upstream=y%401"}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = ValidateSPDX(data)
		_ = ValidateCycloneDX(data)
		inv, err := Decode(data)
		if err != nil {
			return
		}
		for _, p := range inv.Packages {
			if p.Type == "" || p.Name == "" || p.PURL == "" {
				t.Fatalf("incomplete package %+v", p)
			}
		}
	})
}

// FuzzLicenseExpression: no panic, and a canonical expression is a fixed point.
func FuzzLicenseExpression(f *testing.F) {
	f.Add("(MIT OR Apache-2.0) AND GPL-2.0-or-later WITH Classpath-exception-2.0")
	f.Add("LicenseRef-x OR DocumentRef-a:LicenseRef-b")
	l, err := loadLicenseList()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, _, ok := l.expression(s)
		if !ok {
			return
		}
		again, _, ok := l.expression(e)
		if !ok || again != e {
			t.Fatalf("expression(%q) = %q, which reads back as %q, %v", s, e, again, ok)
		}
	})
}

// FuzzLayer reads the inventory of an image whose only layer is arbitrary bytes: an error or an inventory, never a
// panic.
func FuzzLayer(f *testing.F) {
	seed := func(files ...tfile) []byte {
		l := layerOf(f, files...)
		rc, err := l.Uncompressed()
		if err != nil {
			f.Fatal(err)
		}
		defer rc.Close()
		var b bytes.Buffer
		if _, err := b.ReadFrom(rc); err != nil {
			f.Fatal(err)
		}
		return b.Bytes()
	}
	f.Add(seed(file("lib/apk/db/installed", "P:a\nV:1\n"), file("etc/os-release", "ID=alpine\n")))
	f.Add(seed(whiteout("var/lib/dpkg/status.d/x"), opaque("usr"), symlink("etc/os-release", "../usr/lib/os-release")))
	f.Fuzz(func(t *testing.T, data []byte) {
		l := plainLayer(data)
		d, _ := l.DiffID()
		s, err := scanLayer(context.Background(), imageref.NewLayerReader(imageref.Limits{}), l, d, readers())
		if err != nil {
			return
		}
		inv := &evidence.Inventory{}
		lics, err := loadLicenseList()
		if err != nil {
			t.Fatal(err)
		}
		assemble(inv, []*layerScan{s}, lics, Options{})
		for _, p := range inv.Packages {
			if p.PURL == "" || p.Layer == "" || len(p.Locations) == 0 {
				t.Fatalf("incomplete package %+v", p)
			}
		}
	})
}

// plainLayer is an uncompressed layer held in memory, cheap enough to build per fuzz input.
type plainLayer []byte

func (l plainLayer) Digest() (v1.Hash, error) { return l.DiffID() }
func (l plainLayer) DiffID() (v1.Hash, error) {
	sum := sha256.Sum256(l)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}, nil
}
func (l plainLayer) Compressed() (io.ReadCloser, error) { return l.Uncompressed() }
func (l plainLayer) Uncompressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l)), nil
}
func (l plainLayer) Size() (int64, error)                { return int64(len(l)), nil }
func (l plainLayer) MediaType() (types.MediaType, error) { return types.OCIUncompressedLayer, nil }
