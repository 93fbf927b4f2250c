package sign

import "errors"

// Verification fails closed, and each way it fails has its own error, for errors.Is.
var (
	// ErrNoSignatures: the image has no signature in the formats looked at (a real "not found" from
	// the registry, never a throttled or failed request).
	ErrNoSignatures = errors.New("no signatures found")
	// ErrNoAttestations: the image has no attestation of the asked type.
	ErrNoAttestations = errors.New("no attestations found")
	// ErrWrongKey: signatures exist, but were made by another key.
	ErrWrongKey = errors.New("signed by a different key")
	// ErrBadSignature: a signature does not verify: its payload or signature was altered.
	ErrBadSignature = errors.New("invalid signature")
	// ErrOtherImage: a valid signature that names another image's digest.
	ErrOtherImage = errors.New("the signature is for another image")
	// ErrDigestMismatch: content from the registry does not hash to the digest that names it.
	ErrDigestMismatch = errors.New("digest mismatch")
	// ErrRegistry: the registry failed (throttling, server error, network): nothing can be said
	// about the signatures.
	ErrRegistry = errors.New("registry error")
	// ErrMalformed: a signature, envelope, statement or bundle that cannot be parsed.
	ErrMalformed = errors.New("malformed signature data")
)
