// Command genschema writes policy.schema.json from the policy types; run it with go generate
// ./pkg/policy.
package main

import (
	"log"
	"os"
	"path/filepath"

	"github.com/ingot-build/ingot/pkg/policy"
)

func main() {
	// go generate runs in pkg/policy; comments are read relative to the module root.
	if err := os.Chdir(filepath.Join("..", "..")); err != nil {
		log.Fatal(err)
	}
	out, err := policy.Reflect("./pkg/policy")
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("pkg", "policy", "policy.schema.json"), out, 0o644); err != nil {
		log.Fatal(err)
	}
}
