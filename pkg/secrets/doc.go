// Package secrets finds credentials baked into an image: in the files of every layer (a file deleted
// by a later layer is still in the image's blobs, so it is still a leak), in the config's environment
// and in the build history. Rules pair cheap keywords with a regular expression and an entropy floor,
// and known look-alikes (placeholders, hashes, documentation examples) stay silent, because a secret
// scanner that cries wolf gets turned off.
package secrets
