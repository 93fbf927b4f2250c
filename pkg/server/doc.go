// Package server is the catalog's HTTP adapter: the JSON API that ingot serve offers over a
// catalog.Catalog (versions and their evidence, history, diffs, the exposure and findings queries,
// status changes, the event sequence followers poll, registered specs), with bearer tokens of read
// and write scope stored hashed in the catalog, Prometheus metrics, health checks and graceful
// shutdown. The routes are documented in api/openapi.yaml, served at /openapi.yaml; a test checks the
// document and the handlers against each other.
//
// The domain stays in pkg/catalog; this package only maps HTTP to it and its fault kinds back to
// HTTP statuses (errors.go). Rebuild jobs and patch SLAs belong to pkg/rebuild: Config carries hooks
// for them, and routes that need an unwired hook answer 501.
package server
