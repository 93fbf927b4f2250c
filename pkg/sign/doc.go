// Package sign signs images and their evidence in the formats cosign, Kyverno and policy-controller
// read: cosign's key files, legacy simple-signing signatures and DSSE attestations under the
// sha256-<hex>.sig and .att tags, and sigstore bundles (v0.3) stored as OCI 1.1 referrers. It needs no
// transparency log, no TUF root and no network beyond the registry, so air-gapped users can sign and
// verify with keys alone.
package sign
