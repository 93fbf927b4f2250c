// Package stages runs the evidence stages that read an image's files (sbom, secrets, lint, structure
// tests) as visitors of one layer walk, so that each layer of the image is read and inflated once
// for all of them: what a build's evidence gate and `ingot lint` use. Each stage's own entry
// (sbom.Inventory, secrets.Scan, harden.Lint, imagetest.Run) gives the same result on its own.
package stages
