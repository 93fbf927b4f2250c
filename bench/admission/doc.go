// Command admission measures ingot's admission webhook, in one run: through a real kube-apiserver
// (16 concurrent server-side dry-run Pod creations with no webhook, then with ingot's registered, for
// signed, unsigned and unmatched images), and directly against the webhook (first verifications, a
// warm run at a fixed rate and a cold run with no cache). It prints throughput, latency percentiles,
// errors, peak memory and the ratios to the bare API server and to the Kyverno anchors. It
// measures; it asserts no target. See bench/README.md.
package main
