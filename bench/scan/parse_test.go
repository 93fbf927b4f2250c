package main

import (
	"slices"
	"testing"
)

func TestParsers(t *testing.T) {
	spdx := `{"packages":[{"name":"img","versionInfo":"1"},{"name":"x.tar","externalRefs":[{"referenceType":"purl","referenceLocator":"pkg:oci/x@sha256:1"}]},{"name":"libc6","versionInfo":"2.36","externalRefs":[{"referenceType":"purl"}]},{"name":"libc6","versionInfo":"2.36","externalRefs":[{"referenceType":"purl"}]}]}`
	if got, err := spdxPackages([]byte(spdx)); err != nil || !slices.Equal(got, []string{"libc6@2.36"}) {
		t.Errorf("spdxPackages = %v, %v", got, err)
	}
	ingot := `{"findings":[{"id":"CVE-1","aliases":["GO-2022-1059","GHSA-x"]},{"id":"GO-2021-0113"}]}`
	if got, err := ingotIDs([]byte(ingot)); err != nil || !slices.Equal(got, []string{"GO-2021-0113", "GO-2022-1059"}) {
		t.Errorf("ingotIDs = %v, %v", got, err)
	}
	osv := `{"results":[{"packages":[{"vulnerabilities":[{"id":"GHSA-y","aliases":["GO-2022-1059"]}]}]}]}`
	if got, err := osvScannerIDs([]byte(osv)); err != nil || !slices.Equal(got, []string{"GO-2022-1059"}) {
		t.Errorf("osvScannerIDs = %v, %v", got, err)
	}
	gv := `{"config":{"go_version":"go1.26"}}
{"osv":{"id":"GO-2021-0113"}}
{"finding":{"osv":"GO-2022-1059","trace":[{"module":"golang.org/x/text"}]}}
{"finding":{"osv":"GO-2022-1059"}}`
	if got, err := govulncheckIDs([]byte(gv)); err != nil || !slices.Equal(got, []string{"GO-2022-1059"}) {
		t.Errorf("govulncheckIDs = %v, %v", got, err)
	}
}
