// Package imagetest runs structure tests against an image: metadata and file tests read the image
// config and its flattened filesystem, and command tests run inside the image under runc, without
// network and with a time limit. The test file format follows container-structure-test so existing
// suites port over, and every test becomes one evidence.Finding.
package imagetest
