// Package vuln keeps imported OSV vulnerability data as a local index and matches image inventories
// against it. Imports and updates replace a source's data atomically; a scan only reads the index,
// never the network, and loads just the ecosystems and packages the inventory names, so matching stays
// fast. Versions are ordered by each ecosystem's own rules (dpkg, apk, Go semver, npm semver, PEP 440).
package vuln
