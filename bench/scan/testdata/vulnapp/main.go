// Command vulnapp links golang.org/x/text v0.3.7, a version with published Go advisories, so the scan
// benchmark has something real for each scanner to find.
package main

import (
	"fmt"

	"golang.org/x/text/language"
)

func main() {
	fmt.Println(language.Parse("en-US"))
}
