package imagetest_test

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"log"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/ingot-build/ingot/pkg/imagetest"
)

func ExampleRun() {
	suite, err := imagetest.Parse([]byte(`
fileExistenceTests:
  - {name: no shell, path: /bin/sh, shouldExist: false}
fileContentTests:
  - {name: debian, path: /etc/os-release, expectedContents: ["(?m)^ID=debian$"]}
metadataTest:
  user: "65532"
  workdir: /srv
`))
	if err != nil {
		log.Fatal(err)
	}
	// An image of one layer holding /etc/os-release, running as 65532 in /.
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	body := "PRETTY_NAME=\"Debian GNU/Linux 12\"\nID=debian\n"
	if err := tw.WriteHeader(&tar.Header{Name: "etc/os-release", Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
		log.Fatal(err)
	}
	if _, err := tw.Write([]byte(body)); err != nil {
		log.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		log.Fatal(err)
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil })
	if err != nil {
		log.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		log.Fatal(err)
	}
	if img, err = mutate.Config(img, v1.Config{User: "65532"}); err != nil {
		log.Fatal(err)
	}

	findings, err := imagetest.Run(context.Background(), img, suite, imagetest.Options{})
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range findings {
		if f.Description == "" {
			fmt.Printf("%s: %s\n", f.ID, f.Status)
		} else {
			fmt.Printf("%s: %s (%s)\n", f.ID, f.Status, f.Description)
		}
	}
	// Output:
	// no shell: passed
	// debian: passed
	// metadata: failed (workdir is "", want "/srv")
}
