package apt

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/ingot-build/ingot/pkg/deb"
)

// IndexFile is one entry of a Release's SHA256 section.
type IndexFile struct {
	Path   string // relative to dists/<suite>/, e.g. "main/binary-amd64/Packages.xz"
	Size   int64
	SHA256 string // lowercase hex
}

// Release is the verified, parsed Release of one suite.
type Release struct {
	Origin, Label, Suite, Codename, Version string
	Date, ValidUntil                        time.Time // zero when the field is absent
	Architectures, Components               []string
	// AcquireByHash says the archive also serves each index under by-hash/SHA256/<hex>, which stays
	// consistent while the mirror is being updated.
	AcquireByHash bool
	Files         map[string]IndexFile // from the SHA256 section, by Path
	Digest        string               // "sha256:<hex>" of the InRelease (or Release) bytes as served
	Signer        string               // hex fingerprint of the key that made the accepted signature
}

// Release fetches dists/<suite>/InRelease or, when the server has none (404), Release and Release.gpg,
// verifies the OpenPGP signature against the source's keyrings before parsing anything, and parses
// only the signed text. A Release past its Valid-Until gives ErrExpired, one describing another suite
// ErrWrongSuite, and any signature problem ErrSignature.
func (c *Client) Release(ctx context.Context, src Source) (*Release, error) {
	src = src.WithDefaults()
	if err := src.Validate(); err != nil {
		return nil, err
	}
	keyring, err := loadKeyrings(src.keyrings())
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", src.Name, err)
	}
	now := c.now()
	hc := c.httpClient()

	inURL := src.distURL("InRelease")
	served, err := fetch(ctx, hc, inURL, maxReleaseSize)
	var text []byte
	var signer string
	switch {
	case err == nil:
		text, signer, err = verifyClearsigned(keyring, served, now)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", inURL, err)
		}
	case errors.Is(err, ErrNotFound):
		relURL := src.distURL("Release")
		served, err = fetch(ctx, hc, relURL, maxReleaseSize)
		if err != nil {
			return nil, err
		}
		sig, err := fetch(ctx, hc, relURL+".gpg", maxReleaseSize)
		if errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("%w: %s: neither InRelease nor Release.gpg exists: the suite is unsigned", ErrSignature, src.distURL(""))
		}
		if err != nil {
			return nil, err
		}
		if signer, err = verifyDetached(keyring, served, sig, now); err != nil {
			return nil, fmt.Errorf("%s.gpg: %w", relURL, err)
		}
		text = served
	default:
		return nil, err
	}

	rel, err := ParseRelease(text)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src.distURL(""), err)
	}
	sum := sha256.Sum256(served)
	rel.Digest = "sha256:" + hex.EncodeToString(sum[:])
	if c.Cache != nil {
		// Kept by digest, as the lock names it, so that a build can later serve the exact signed
		// file it was locked against (ingot host build's local mirror); losing it only costs a fetch.
		_ = c.Cache.store(hex.EncodeToString(sum[:]), served)
	}
	rel.Signer = signer
	if (rel.Suite != "" || rel.Codename != "") && src.Suite != rel.Suite && src.Suite != rel.Codename {
		return nil, fmt.Errorf("%w: %s: asked for %q, the signed Release says Suite %q, Codename %q",
			ErrWrongSuite, src.distURL(""), src.Suite, rel.Suite, rel.Codename)
	}
	if !rel.ValidUntil.IsZero() && now.After(rel.ValidUntil) {
		return nil, fmt.Errorf("%w: %s was valid until %s", ErrExpired, src.distURL(""), rel.ValidUntil.UTC().Format(time.RFC1123))
	}
	return rel, nil
}

// ParseRelease parses the text of a Release file. It must only be given text whose signature has been
// verified; Client.Release does that.
func ParseRelease(data []byte) (*Release, error) {
	p, err := deb.ParseParagraph(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	rel := &Release{
		Origin:        p.Get("Origin"),
		Label:         p.Get("Label"),
		Suite:         p.Get("Suite"),
		Codename:      p.Get("Codename"),
		Version:       p.Get("Version"),
		Architectures: strings.Fields(p.Get("Architectures")),
		Components:    strings.Fields(p.Get("Components")),
		AcquireByHash: strings.EqualFold(p.Get("Acquire-By-Hash"), "yes"),
	}
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"Date", &rel.Date}, {"Valid-Until", &rel.ValidUntil}} {
		if v, ok := p.Lookup(f.name); ok {
			if *f.dst, err = parseReleaseDate(v); err != nil {
				return nil, fmt.Errorf("%w: %s: %w", ErrMalformed, f.name, err)
			}
		}
	}
	sums, ok := p.Lookup("SHA256")
	if !ok {
		return nil, fmt.Errorf("%w: no SHA256 section (MD5Sum and SHA1 alone are not trusted)", ErrMalformed)
	}
	rel.Files = make(map[string]IndexFile)
	for i, line := range strings.Split(sums, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 && i == 0 {
			continue // the field's (empty) first line
		}
		if len(f) != 3 {
			return nil, fmt.Errorf("%w: SHA256 line %d: want \"<sha256> <size> <path>\", got %.80q", ErrMalformed, i, line)
		}
		if !validSHA256(f[0]) {
			return nil, fmt.Errorf("%w: SHA256 line %d: %.80q is not a sha256", ErrMalformed, i, f[0])
		}
		size, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil || size < 0 {
			return nil, fmt.Errorf("%w: SHA256 line %d: size %.40q", ErrMalformed, i, f[1])
		}
		if !validRelPath(f[2]) {
			return nil, fmt.Errorf("%w: SHA256 line %d: path %.80q", ErrMalformed, i, f[2])
		}
		if _, dup := rel.Files[f[2]]; dup {
			return nil, fmt.Errorf("%w: SHA256 lists %q twice", ErrMalformed, f[2])
		}
		rel.Files[f[2]] = IndexFile{Path: f[2], Size: size, SHA256: strings.ToLower(f[0])}
	}
	return rel, nil
}

// parseReleaseDate reads the RFC 2822 dates of Release files ("Sat, 10 May 2025 08:47:32 UTC"). Zone
// names other than UTC and GMT are refused: Go would read them as a zero offset and be silently wrong.
func parseReleaseDate(v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	for _, layout := range []string{"Mon, 2 Jan 2006 15:04:05 -0700", "Mon, 2 Jan 2006 15:04:05 MST", "2 Jan 2006 15:04:05 -0700", "2 Jan 2006 15:04:05 MST"} {
		t, err := time.Parse(layout, v)
		if err != nil {
			continue
		}
		if strings.HasSuffix(layout, "MST") {
			if z, _ := t.Zone(); z != "UTC" && z != "GMT" {
				return time.Time{}, fmt.Errorf("date %q: time zone must be UTC or numeric", v)
			}
		}
		return t.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("date %q is not in RFC 2822 form", v)
}

func validSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// verifyClearsigned checks an InRelease file and returns the text that was signed. Nothing may come
// before or after the signed message: apt refuses such files because a parser could be made to read
// unsigned text.
func verifyClearsigned(kr *keyring, data []byte, now time.Time) (text []byte, signer string, err error) {
	if !bytes.HasPrefix(data, []byte("-----BEGIN PGP SIGNED MESSAGE-----")) {
		return nil, "", fmt.Errorf("%w: not a clearsigned message", ErrSignature)
	}
	block, rest := clearsign.Decode(data)
	if block == nil {
		return nil, "", fmt.Errorf("%w: garbled clearsigned message", ErrSignature)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, "", fmt.Errorf("%w: data after the signature", ErrSignature)
	}
	sigs, err := io.ReadAll(io.LimitReader(block.ArmoredSignature.Body, maxReleaseSize))
	if err != nil {
		return nil, "", fmt.Errorf("%w: reading the signature: %w", ErrSignature, err)
	}
	signer, err = verifyAny(kr, block.Bytes, sigs, now)
	if err != nil {
		return nil, "", err
	}
	return block.Plaintext, signer, nil
}

// verifyDetached checks Release against Release.gpg, armored (as Debian publishes it) or binary.
func verifyDetached(kr *keyring, signed, sig []byte, now time.Time) (string, error) {
	if bytes.HasPrefix(bytes.TrimSpace(sig), []byte("-----BEGIN PGP")) {
		block, err := armor.Decode(bytes.NewReader(sig))
		if err != nil {
			return "", fmt.Errorf("%w: garbled armored signature: %w", ErrSignature, err)
		}
		if block.Type != openpgp.SignatureType {
			return "", fmt.Errorf("%w: armored block is a %q, not a signature", ErrSignature, block.Type)
		}
		if sig, err = io.ReadAll(io.LimitReader(block.Body, maxReleaseSize)); err != nil {
			return "", fmt.Errorf("%w: reading the signature: %w", ErrSignature, err)
		}
	}
	return verifyAny(kr, signed, sig, now)
}

// verifyAny accepts signed when any one of the signature packets in sigs is a good signature by a key in
// kr. Archives sign with several keys during key rollovers; go-crypto checks only the first signature
// whose issuer it knows, so each issuer is tried on its own and an expired old key does not hide a good
// new one.
func verifyAny(kr *keyring, signed, sigs []byte, now time.Time) (string, error) {
	var issuers []uint64
	pr := packet.NewReader(bytes.NewReader(sigs))
	for {
		p, err := pr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", fmt.Errorf("%w: garbled signature: %w", ErrSignature, err)
		}
		s, ok := p.(*packet.Signature)
		if !ok {
			return "", fmt.Errorf("%w: a %T packet among the signatures", ErrSignature, p)
		}
		if s.IssuerKeyId != nil {
			issuers = append(issuers, *s.IssuerKeyId)
		}
	}
	if len(issuers) == 0 {
		return "", fmt.Errorf("%w: no signature with an issuer", ErrSignature)
	}
	cfg := &packet.Config{Time: func() time.Time { return now }}
	var errs []error
	for _, id := range issuers {
		el, err := kr.issuer(id)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if len(el.KeysByIdUsage(id, packet.KeyFlagSign)) == 0 {
			errs = append(errs, fmt.Errorf("key %016X may not sign", id))
			continue
		}
		_, ent, err := openpgp.VerifyDetachedSignature(issuerRing{el, id}, bytes.NewReader(signed), bytes.NewReader(sigs), cfg)
		if err != nil {
			errs = append(errs, fmt.Errorf("key %016X: %w", id, err))
			continue
		}
		return signingFingerprint(ent, id), nil
	}
	return "", fmt.Errorf("%w: %w", ErrSignature, errors.Join(errs...))
}

// signingFingerprint returns the fingerprint of the (sub)key of ent with key id.
func signingFingerprint(ent *openpgp.Entity, id uint64) string {
	if ent.PrimaryKey.KeyId == id {
		return hex.EncodeToString(ent.PrimaryKey.Fingerprint)
	}
	for _, sk := range ent.Subkeys {
		if sk.PublicKey.KeyId == id {
			return hex.EncodeToString(sk.PublicKey.Fingerprint)
		}
	}
	return hex.EncodeToString(ent.PrimaryKey.Fingerprint)
}

// issuerRing is a keyring that only knows the keys with one id, so that verification considers only the
// signature made by that key.
type issuerRing struct {
	kr openpgp.EntityList
	id uint64
}

func (r issuerRing) KeysById(id uint64) []openpgp.Key {
	if id != r.id {
		return nil
	}
	return r.kr.KeysById(id)
}

func (r issuerRing) KeysByIdUsage(id uint64, usage byte) []openpgp.Key {
	if id != r.id {
		return nil
	}
	return r.kr.KeysByIdUsage(id, usage)
}

func (issuerRing) DecryptionKeys() []openpgp.Key { return nil }
