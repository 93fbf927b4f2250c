// Package rebuild keeps the catalog from going stale: a cycle (daily, or on demand) reads each
// repository's signed index once, resolves every registered spec again, checks each base image tag
// with one manifest HEAD, and enqueues a rebuild of every image with newer packages or a moved base,
// saying why (which packages, which advisories they fix); a re-scan matches the distinct packages
// of active versions against new vulnerability data once each and revokes (or flags) the versions
// a policy says must not run; SLA measures how long fixes took to reach a published version.
//
// The work runs as jobs on River (riverqueue/river): in the catalog's PostgreSQL database, or in
// <data-dir>/jobs.db beside an embedded SQLite catalog. Jobs are idempotent (publishing goes through
// pipeline.Publish, which publishes a digest once), unique where two would collide (one rebuild per
// image queued or running), retried with backoff, and listed with their errors when they keep
// failing; a worker that stops hands its running jobs back to the queue.
//
// Start runs the workers (and the scheduler) in a process: what `ingot worker` and `ingot serve` do;
// OpenQueue enqueues and lists jobs without working them.
package rebuild
