// Command vulnapp links golang.org/x/text v0.3.7, a version with published Go advisories, so that the
// scan test can check ingot reports exactly those.
package main

import (
	"fmt"

	"golang.org/x/text/language"
)

func main() {
	fmt.Println(language.Parse("en-US"))
}
