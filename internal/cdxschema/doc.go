// Package cdxschema validates CycloneDX 1.6 JSON documents against the official JSON schema. It lives
// apart from pkg/sbom so that github.com/santhosh-tekuri/jsonschema, whose package initialisation costs
// milliseconds, stays out of the ingot binary: only tests validate CycloneDX documents this way.
package cdxschema
