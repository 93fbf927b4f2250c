// Package spec defines ingot.yaml, the declarative description of a golden image: where its packages
// come from, which packages, accounts, files and configuration it has. Decoding is strict (an unknown
// field is an error) and Validate names the field and the reason, so a typo never silently changes an
// image. Validate holds values to what registries and file systems take, so bad input fails before
// anything is written; Local confines the files a spec names on the building machine to its own
// directory and those the builder allows. The JSON schema published for editors is generated from
// these types.
package spec
