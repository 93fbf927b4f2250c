// Command genschema writes ingot.schema.json from the spec types; run it with go generate ./pkg/spec.
package main

import (
	"log"
	"os"
	"path/filepath"

	"github.com/ingot-build/ingot/pkg/spec"
)

func main() {
	// go generate runs in pkg/spec; comments are read relative to the module root.
	if err := os.Chdir(filepath.Join("..", "..")); err != nil {
		log.Fatal(err)
	}
	out, err := spec.Reflect("./pkg/spec")
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("pkg", "spec", "ingot.schema.json"), out, 0o644); err != nil {
		log.Fatal(err)
	}
}
