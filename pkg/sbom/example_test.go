package sbom_test

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/ingot-build/ingot/pkg/sbom"
)

// Inventory of an image — here a one-layer Alpine image made in memory; in practice one opened with
// pkg/imageref — and print its table.
func ExampleInventory() {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, body := range map[string]string{
		"etc/os-release":       "ID=alpine\nVERSION_ID=3.19.1\n",
		"lib/apk/db/installed": "P:musl\nV:1.2.4-r2\nA:x86_64\no:musl\nL:MIT\n\nP:libcrypto3\nV:3.1.4-r5\nA:x86_64\no:openssl\n\n",
	} {
		_ = tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		_, _ = tw.Write([]byte(body))
	}
	_ = tw.Close()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil })
	if err != nil {
		log.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		log.Fatal(err)
	}

	inv, err := sbom.Inventory(context.Background(), img, sbom.Options{Ref: "example"})
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range inv.Packages {
		fmt.Println(p.PURL, p.Ecosystem)
	}
	// Output:
	// pkg:apk/alpine/libcrypto3@3.1.4-r5?arch=x86_64&distro=alpine-3.19.1&upstream=openssl Alpine:v3.19
	// pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&distro=alpine-3.19.1 Alpine:v3.19
}

// Read an SBOM made by another tool, for scanning without the image.
func ExampleDecode() {
	doc, err := os.ReadFile("testdata/foreign/trivy.cdx.json")
	if err != nil {
		log.Fatal(err)
	}
	inv, err := sbom.Decode(doc)
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range inv.Packages {
		fmt.Println(p.Name, p.Version, "source", p.Source, p.SourceVersion, p.Ecosystem)
	}
	// Output:
	// libc6 2.36-9+deb12u4 source glibc 2.36-9+deb12u4 Debian:12
	// login 1:4.13+dfsg1-1 source shadow 1:4.13+dfsg1-1 Debian:12
	// golang.org/x/net v0.17.0 source   Go
}
