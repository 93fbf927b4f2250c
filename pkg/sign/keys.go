package sign

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"

	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/ingot-build/ingot/pkg/fault"
)

// PEM block types of cosign's encrypted private keys: the current one, and the one cosign wrote
// before v2, which still loads.
const (
	PrivateKeyPEMType       = "ENCRYPTED SIGSTORE PRIVATE KEY"
	LegacyPrivateKeyPEMType = "ENCRYPTED COSIGN PRIVATE KEY"
)

// Key errors, for errors.Is.
var (
	ErrWrongPassword = fault.New(fault.Invalid, "wrong password for the private key")
	ErrKeyFormat     = fault.New(fault.Invalid, "not a key in cosign's format")
	// ErrPublicKeyGiven and ErrPrivateKeyGiven mean the other half of the pair was given: a public key
	// to sign with, a private key to verify with.
	ErrPublicKeyGiven  = fault.New(fault.Invalid, "a public key, where the private key is needed")
	ErrPrivateKeyGiven = fault.New(fault.Invalid, "a private key, where the public key is needed")
)

// KeyKind is which half of a key pair a key file holds.
type KeyKind int

// Kinds of key file.
const (
	KeyUnknown KeyKind = iota // neither: not PEM, or a PEM block that is no key
	KeyPrivate
	KeyPublic
)

// KindOfKey says which half of a pair a key file holds from its PEM block type, without decrypting
// it, so that a verb given the wrong half can say so before asking for a password.
func KindOfKey(pemData []byte) KeyKind {
	block, _ := pem.Decode(pemData)
	if block == nil {
		return KeyUnknown
	}
	switch block.Type {
	case PrivateKeyPEMType, LegacyPrivateKeyPEMType, "ENCRYPTED PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY":
		return KeyPrivate
	case "PUBLIC KEY", "RSA PUBLIC KEY":
		return KeyPublic
	}
	return KeyUnknown
}

// Signer signs payloads. The key-file signer implements it; a KMS or hardware signer can too.
type Signer interface {
	// PublicKey is the key that verifies this signer's signatures.
	PublicKey() crypto.PublicKey
	// Sign signs payload (ECDSA P-256 over SHA-256, ASN.1 DER for the key-file signer).
	Sign(ctx context.Context, payload []byte) ([]byte, error)
}

// Verifier checks signatures made by one key.
type Verifier interface {
	PublicKey() crypto.PublicKey
	// Verify returns nil when sig is a valid signature of payload by this key.
	Verify(payload, sig []byte) error
}

// GenerateKeyPair makes an ECDSA P-256 key pair, the private key encrypted with password (scrypt and
// nacl/secretbox, as cosign does) and both PEM-encoded in cosign's formats.
func GenerateKeyPair(password []byte) (privPEM, pubPEM []byte, err error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, nil, err
	}
	enc, err := encrypted.Encrypt(der, password)
	if err != nil {
		return nil, nil, fmt.Errorf("encrypting the private key: %w", err)
	}
	privPEM = pem.EncodeToMemory(&pem.Block{Type: PrivateKeyPEMType, Bytes: enc})
	pubPEM, err = cryptoutils.MarshalPublicKeyToPEM(priv.Public())
	if err != nil {
		return nil, nil, err
	}
	return privPEM, pubPEM, nil
}

// CheckPrivateKey says, without the password, whether pemData can be a private key in cosign's
// format: ErrPublicKeyGiven for a public key, ErrKeyFormat for anything else that is not one.
func CheckPrivateKey(pemData []byte) error {
	_, err := privateKeyBlock(pemData)
	return err
}

func privateKeyBlock(pemData []byte) (*pem.Block, error) {
	block, _ := pem.Decode(pemData)
	switch {
	case block == nil:
		return nil, fmt.Errorf("%w: no PEM block", ErrKeyFormat)
	case KindOfKey(pemData) == KeyPublic:
		return nil, fmt.Errorf("%w: PEM block %q", ErrPublicKeyGiven, block.Type)
	case block.Type != PrivateKeyPEMType && block.Type != LegacyPrivateKeyPEMType:
		return nil, fmt.Errorf("%w: PEM block %q, want %q", ErrKeyFormat, block.Type, PrivateKeyPEMType)
	}
	return block, nil
}

// LoadPrivateKey decrypts a private key that ingot or cosign generated.
func LoadPrivateKey(pemData, password []byte) (Signer, error) {
	block, err := privateKeyBlock(pemData)
	if err != nil {
		return nil, err
	}
	der, err := encrypted.Decrypt(block.Bytes, password)
	if err != nil {
		if !isSecretboxEnvelope(block.Bytes) {
			return nil, fmt.Errorf("%w: the encrypted key is damaged: %w", ErrKeyFormat, err)
		}
		return nil, fmt.Errorf("%w: %w", ErrWrongPassword, err)
	}
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeyFormat, err)
	}
	ec, ok := key.(*ecdsa.PrivateKey)
	if !ok || ec.Curve != elliptic.P256() {
		return nil, fmt.Errorf("%w: only ECDSA P-256 keys are supported, got %T", ErrKeyFormat, key)
	}
	return NewECDSASigner(ec)
}

// NewECDSASigner signs with a P-256 key held in memory.
func NewECDSASigner(k *ecdsa.PrivateKey) (Signer, error) {
	sv, err := signature.LoadECDSASignerVerifier(k, crypto.SHA256)
	if err != nil {
		return nil, err
	}
	return &keySigner{sv: sv, pub: k.Public()}, nil
}

// isSecretboxEnvelope reports whether b is a well-formed scrypt + nacl/secretbox envelope, so that a
// failed decryption means a wrong password rather than a damaged key.
func isSecretboxEnvelope(b []byte) bool {
	var e struct {
		KDF struct {
			Name string `json:"name"`
		} `json:"kdf"`
		Cipher struct {
			Name  string `json:"name"`
			Nonce []byte `json:"nonce"`
		} `json:"cipher"`
		Ciphertext []byte `json:"ciphertext"`
	}
	return json.Unmarshal(b, &e) == nil && e.KDF.Name == "scrypt" && e.Cipher.Name == "nacl/secretbox" &&
		len(e.Cipher.Nonce) == 24 && len(e.Ciphertext) > 0
}

// LoadPublicKey reads a PEM public key (PKIX, as cosign writes it).
func LoadPublicKey(pemData []byte) (Verifier, error) {
	if KindOfKey(pemData) == KeyPrivate {
		return nil, ErrPrivateKeyGiven
	}
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(pemData)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeyFormat, err)
	}
	v, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeyFormat, err)
	}
	return &keyVerifier{v: v, pub: pub}, nil
}

// NewVerifier returns the verifier of a signer's own key.
func NewVerifier(s Signer) (Verifier, error) {
	v, err := signature.LoadVerifier(s.PublicKey(), crypto.SHA256)
	if err != nil {
		return nil, err
	}
	return &keyVerifier{v: v, pub: s.PublicKey()}, nil
}

// KeyHint names a public key the way cosign's bundles do: base64 of the SHA-256 of its PKIX DER.
func KeyHint(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(der)
	return base64.StdEncoding.EncodeToString(sum[:]), nil
}

type keySigner struct {
	sv  signature.SignerVerifier
	pub crypto.PublicKey
}

func (k *keySigner) PublicKey() crypto.PublicKey { return k.pub }

func (k *keySigner) Sign(_ context.Context, payload []byte) ([]byte, error) {
	return k.sv.SignMessage(bytesReader(payload))
}

type keyVerifier struct {
	v   signature.Verifier
	pub crypto.PublicKey
}

func (k *keyVerifier) PublicKey() crypto.PublicKey { return k.pub }

func (k *keyVerifier) Verify(payload, sig []byte) error {
	return k.v.VerifySignature(bytesReader(sig), bytesReader(payload))
}
