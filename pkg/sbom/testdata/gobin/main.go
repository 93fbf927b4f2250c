// Command gobin is a Go program the sbom tests build and catalog: it links golang.org/x/sync, so its
// build info lists a dependency besides the main module and the standard library.
package main

import (
	"fmt"

	"golang.org/x/sync/errgroup"
)

func main() {
	var g errgroup.Group
	g.Go(func() error { fmt.Println("hello"); return nil })
	_ = g.Wait()
}
