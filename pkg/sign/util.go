package sign

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// sameDigest reports whether d is the sha256 of data.
func sameDigest(d v1.Hash, data []byte) bool {
	sum := sha256.Sum256(data)
	return d.Algorithm == "sha256" && d.Hex == hex.EncodeToString(sum[:])
}
