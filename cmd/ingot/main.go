// Command ingot builds, evidences, signs and catalogs golden container images.
package main

import (
	_ "github.com/ProtonMail/go-crypto/openpgp"
	_ "github.com/google/go-containerregistry/pkg/v1"
	_ "github.com/invopop/jsonschema"
	_ "github.com/klauspost/compress/zstd"
	_ "github.com/spf13/cobra"
	_ "github.com/ulikunitz/xz"
	_ "golang.org/x/sync/errgroup"
	_ "golang.org/x/term"
	_ "sigs.k8s.io/yaml"
)

func main() {}
