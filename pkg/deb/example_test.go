package deb_test

import (
	"fmt"

	"github.com/ingot-build/ingot/pkg/deb"
)

func ExampleVersion_Compare() {
	installed := deb.MustParseVersion("2.36-9+deb12u9")
	for _, s := range []string{"2.36-9+deb12u14", "2.36~rc1-1", "1:2.0"} {
		candidate, err := deb.ParseVersion(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(candidate, "newer than", installed, ":", candidate.Compare(installed) > 0)
	}
	// Output:
	// 2.36-9+deb12u14 newer than 2.36-9+deb12u9 : true
	// 2.36~rc1-1 newer than 2.36-9+deb12u9 : false
	// 1:2.0 newer than 2.36-9+deb12u9 : true
}

func ExampleParseVersion() {
	v, err := deb.ParseVersion("1:2.36-9+deb12u14")
	if err != nil {
		panic(err)
	}
	fmt.Printf("epoch=%d upstream=%s revision=%s\n", v.Epoch, v.Upstream, v.Revision)
	_, err = deb.ParseVersion("v1.0")
	fmt.Println(err)
	// Output:
	// epoch=1 upstream=2.36 revision=9+deb12u14
	// deb: invalid version "v1.0": upstream version does not start with a digit
}

func ExampleParseRelations() {
	rels, err := deb.ParseRelations("libc6 (>= 2.34), default-mta | mail-transport-agent")
	if err != nil {
		panic(err)
	}
	libc := rels[0][0]
	fmt.Println(libc.Name, libc.SatisfiedBy(deb.MustParseVersion("2.36-9+deb12u14")))
	fmt.Println(rels[1])
	// Output:
	// libc6 true
	// default-mta | mail-transport-agent
}
