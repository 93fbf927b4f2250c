// Command catalog measures the catalog at scale: a synthetic catalog of 10,000 image versions of
// ~300 packages each (real Debian 12 package names and versions, Go modules and versions the shared
// OSV data names) on SQLite and PostgreSQL, and of 100,000 versions on PostgreSQL. It reports p50
// and p99 of the exposure query, of "active versions with a critical finding" and of `catalog show`,
// in process and over ingot serve's HTTP API, the time of a full re-scan (pkg/rebuild's Rescan)
// against ../shared/data/vuln/Go/all.zip, and peak memory, with the targets beside the
// figures. See bench/README.md.
package main
