package build_test

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"time"

	"github.com/ingot-build/ingot/internal/debtest"
	"github.com/ingot-build/ingot/pkg/build"
)

func ExampleImage() {
	// In ingot the .deb comes from a signature-verified repository; here debtest makes one.
	hello, err := debtest.Build(debtest.Package{Name: "hello", Version: "2.10-3", Arch: "arm64", Files: []debtest.File{
		{Path: "usr/bin/hello", Mode: 0o755, Body: []byte("#!/bin/sh\necho hello\n")},
	}})
	if err != nil {
		log.Fatal(err)
	}
	img, err := build.Image(context.Background(), build.Options{
		Arch:     "arm64",
		Packages: []build.Package{{Name: "hello", Version: "2.10-3", Deb: hello}},
		Accounts: build.Accounts{
			Groups: []build.Group{{Name: "nonroot", GID: 65532}},
			Users:  []build.User{{Name: "nonroot", UID: 65532, GID: 65532}},
			RunAs:  "nonroot",
		},
		Config: build.Config{Entrypoint: []string{"/usr/bin/hello"}},
		Epoch:  time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
	})
	if err != nil {
		log.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(cf.OS, cf.Architecture, cf.Variant, "user", cf.Config.User, "entrypoint", cf.Config.Entrypoint)

	layers, err := img.Layers()
	if err != nil {
		log.Fatal(err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		log.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%04o %5d %s\n", h.Mode, h.Uid, h.Name)
	}
	// Output:
	// linux arm64 v8 user 65532:65532 entrypoint [/usr/bin/hello]
	// 0755     0 etc/
	// 0644     0 etc/group
	// 0644     0 etc/passwd
	// 0755     0 home/
	// 0700 65532 home/nonroot/
	// 0700     0 root/
	// 1777     0 tmp/
	// 0755     0 usr/
	// 0755     0 usr/bin/
	// 0755     0 usr/bin/hello
	// 0755     0 var/
	// 0755     0 var/lib/
	// 0755     0 var/lib/dpkg/
	// 0755     0 var/lib/dpkg/status.d/
	// 0644     0 var/lib/dpkg/status.d/hello
	// 0644     0 var/lib/dpkg/status.d/hello.md5sums
}
