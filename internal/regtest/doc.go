// Package regtest starts the peers that signing and publishing tests talk to — an in-process ggcr
// registry, Debian's docker-registry, the real cosign v2 and v3 — and the faults they must survive: a
// registry that throttles, errors or dies midway through a push, and a network that refuses anything
// beyond loopback, so a test can assert that signing and verifying with keys never reach the internet.
//
// Commands run in-process can be held offline the same way once the CLI accepts a transport; the
// proposed hook is a cli.Options{Transport http.RoundTripper} given to the root command, which every
// registry call then uses: pass regtest.OfflineTransport(nil) and assert Refused() is empty.
package regtest
