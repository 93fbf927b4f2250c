// Package sbom reads the inventory of any container image — Debian and Alpine packages, Go binaries,
// npm and Python packages — layer by layer, as the image's filesystem really is after whiteouts, and
// renders it as SPDX 2.3 and CycloneDX 1.6 documents that grype, trivy and osv-scanner consume. It also
// reads such documents back, so a scan can start from an SBOM made elsewhere.
package sbom
