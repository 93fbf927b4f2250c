// Command hello is the program examples/hello puts into a golden image: it greets, and reports the
// user it runs as, so a test can see that the image runs as nonroot.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Printf("Hello from a golden image! (uid %d)\n", os.Getuid())
}
