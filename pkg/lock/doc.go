// Package lock reads and writes ingot.lock: the exact packages (name, version, URL, size, sha256),
// repository and index digests, and base image digest that a spec resolved to. A build uses only the
// lock, so the same spec and lock give the same image on any machine; Check refuses a lock that no
// longer matches its spec, and Write replaces the file atomically so a failure never leaves half a lock.
package lock
