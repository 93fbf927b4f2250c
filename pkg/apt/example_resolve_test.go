package apt_test

import (
	"errors"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/ingot-build/ingot/pkg/apt"
	"github.com/ingot-build/ingot/pkg/deb"
)

// readIndex parses an uncompressed Packages index, as the repository client does after verifying it.
func readIndex(path string) []*apt.Package {
	f, err := os.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	var pkgs []*apt.Package
	err = deb.ReadParagraphs(f, func(p deb.Paragraph) error {
		pkg, err := apt.ParsePackage(p)
		if err != nil {
			return err
		}
		pkgs = append(pkgs, pkg)
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	return pkgs
}

func ExampleUniverse_Resolve() {
	u := apt.NewUniverse("amd64",
		readIndex("testdata/resolve/bookworm-security.Packages"),
		readIndex("testdata/resolve/bookworm-main.Packages"))

	res, err := u.Resolve(apt.Request{
		Packages: []string{"ca-certificates", "base-files"},
		Exclude:  []string{"debconf"}, // no maintainer scripts run in an image: debconf is dead weight
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range res.Packages {
		fmt.Println(p)
	}
	for _, x := range res.Excluded {
		fmt.Printf("excluded %s, needed by %s\n", x.Name, strings.Join(x.RequiredBy, ", "))
	}
	for _, v := range res.Virtual {
		fmt.Printf("%s provided by %s for %s\n", v.Name, v.Provider, strings.Join(v.RequiredBy, ", "))
	}
	// Output:
	// base-files=12.4+deb12u15/amd64
	// ca-certificates=20250419~deb12u2/all
	// gcc-12-base=12.2.0-14+deb12u1/amd64
	// libc6=2.36-9+deb12u14/amd64
	// libgcc-s1=12.2.0-14+deb12u1/amd64
	// libssl3=3.0.22-1~deb12u2/amd64
	// mawk=1.3.4.20200120-3.1/amd64
	// openssl=3.0.22-1~deb12u2/amd64
	// excluded debconf, needed by ca-certificates
	// awk provided by mawk for base-files
}

func ExampleUniverse_Resolve_unsatisfiable() {
	u := apt.NewUniverse("amd64", readIndex("testdata/resolve/bookworm-main.Packages"))

	_, err := u.Resolve(apt.Request{Packages: []string{"ca-certificates", "openssl=3.0.11-1~deb12u2"}})
	var ue *apt.UnsatisfiableError
	if errors.As(err, &ue) {
		fmt.Println("failed relation:", ue.Relation)
	}
	fmt.Println(err)

	_, err = u.Resolve(apt.Request{Packages: []string{"ca-certificate"}})
	fmt.Println(errors.Is(err, apt.ErrNoSuchPackage), err)
	// Output:
	// failed relation: openssl (= 3.0.11-1~deb12u2)
	// cannot satisfy openssl (= 3.0.11-1~deb12u2): only openssl 3.0.20-1~deb12u2 is available
	// true apt: no such package: ca-certificate for amd64 (did you mean ca-certificates?)
}
