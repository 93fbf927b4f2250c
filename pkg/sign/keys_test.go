package sign_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/secure-systems-lab/go-securesystemslib/encrypted"

	"github.com/ingot-build/ingot/internal/regtest"
	"github.com/ingot-build/ingot/pkg/sign"
)

const fixturePassword = "ingot-test"

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "keys", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// signAndVerify signs payload with s and checks that v accepts it, and rejects it for another payload.
func signAndVerify(t *testing.T, s sign.Signer, v sign.Verifier) {
	t.Helper()
	payload := []byte(`{"critical":{"image":{"docker-manifest-digest":"sha256:00"}}}`)
	sig, err := s.Sign(t.Context(), payload)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	if err := v.Verify(payload, sig); err != nil {
		t.Errorf("Verify of a fresh signature: %v", err)
	}
	if err := v.Verify(append(bytes.Clone(payload), ' '), sig); err == nil {
		t.Error("Verify accepted the signature for a different payload")
	}
	sig[len(sig)-1] ^= 1
	if err := v.Verify(payload, sig); err == nil {
		t.Error("Verify accepted a corrupted signature")
	}
}

func TestGenerateKeyPairRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name     string
		password string
	}{
		{"password", "correct horse battery staple"},
		{"empty password", ""}, // cosign allows COSIGN_PASSWORD=""
		{"unicode password", "pässwörd-🔑"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			privPEM, pubPEM, err := sign.GenerateKeyPair([]byte(tc.password))
			if err != nil {
				t.Fatal(err)
			}
			if b, _ := pem.Decode(privPEM); b == nil || b.Type != sign.PrivateKeyPEMType {
				t.Fatalf("private key is not a %q PEM block:\n%s", sign.PrivateKeyPEMType, privPEM)
			}
			if b, _ := pem.Decode(pubPEM); b == nil || b.Type != "PUBLIC KEY" {
				t.Fatalf("public key is not a PUBLIC KEY PEM block:\n%s", pubPEM)
			}
			s, err := sign.LoadPrivateKey(privPEM, []byte(tc.password))
			if err != nil {
				t.Fatalf("LoadPrivateKey: %v", err)
			}
			v, err := sign.LoadPublicKey(pubPEM)
			if err != nil {
				t.Fatalf("LoadPublicKey: %v", err)
			}
			pub, ok := s.PublicKey().(*ecdsa.PublicKey)
			if !ok || pub.Curve != elliptic.P256() {
				t.Fatalf("public key %T, want ECDSA P-256", s.PublicKey())
			}
			if !pub.Equal(v.PublicKey()) {
				t.Error("the loaded private key and the public key file do not match")
			}
			signAndVerify(t, s, v)
			own, err := sign.NewVerifier(s)
			if err != nil {
				t.Fatal(err)
			}
			signAndVerify(t, s, own)

			h1, err := sign.KeyHint(s.PublicKey())
			if err != nil {
				t.Fatal(err)
			}
			h2, _ := sign.KeyHint(v.PublicKey())
			if h1 != h2 || len(h1) != 44 {
				t.Errorf("KeyHint %q and %q, want the same base64 SHA-256", h1, h2)
			}
		})
	}
	// Two key pairs are different keys.
	a, _, _ := sign.GenerateKeyPair(nil)
	b, _, _ := sign.GenerateKeyPair(nil)
	if bytes.Equal(a, b) {
		t.Error("GenerateKeyPair returned the same key twice")
	}
}

// encryptedPEM wraps a PKCS#8 key in cosign's encryption, as if cosign had written it.
func encryptedPEM(t *testing.T, key any, password string) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := encrypted.Encrypt(der, []byte(password))
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: sign.PrivateKeyPEMType, Bytes: enc})
}

func plainPEM(t *testing.T, key any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func TestLoadPrivateKey(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ours, _, err := sign.GenerateKeyPair([]byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		key      []byte
		password string
		want     error // nil: loads
	}{
		{"cosign v2 key", readFixture(t, "cosign-v2.key"), fixturePassword, nil},
		{"pre-v2 ENCRYPTED COSIGN PRIVATE KEY", readFixture(t, "legacy-cosign.key"), fixturePassword, nil},
		{"ours", ours, "pw", nil},
		{"wrong password", ours, "pW", sign.ErrWrongPassword},
		{"empty password for a protected key", readFixture(t, "cosign-v2.key"), "", sign.ErrWrongPassword},
		{"empty input", nil, "pw", sign.ErrKeyFormat},
		{"garbage", []byte("not a key at all\n"), "pw", sign.ErrKeyFormat},
		{"damaged envelope", pem.EncodeToMemory(&pem.Block{Type: sign.PrivateKeyPEMType, Bytes: []byte("garbage")}), "pw", sign.ErrKeyFormat},
		{"empty envelope", pem.EncodeToMemory(&pem.Block{Type: sign.PrivateKeyPEMType, Bytes: []byte("{}")}), "pw", sign.ErrKeyFormat},
		{"public key instead", readFixture(t, "cosign-v2.pub"), fixturePassword, sign.ErrPublicKeyGiven},
		{"unencrypted P-256 PKCS#8", plainPEM(t, p256), "pw", sign.ErrKeyFormat},
		{"unencrypted RSA", plainPEM(t, rsaKey), "pw", sign.ErrKeyFormat},
		{"encrypted RSA", encryptedPEM(t, rsaKey, "pw"), "pw", sign.ErrKeyFormat},
		{"encrypted P-384", encryptedPEM(t, p384, "pw"), "pw", sign.ErrKeyFormat},
		{"encrypted non-key bytes", func() []byte {
			enc, err := encrypted.Encrypt([]byte("hello"), []byte("pw"))
			if err != nil {
				t.Fatal(err)
			}
			return pem.EncodeToMemory(&pem.Block{Type: sign.PrivateKeyPEMType, Bytes: enc})
		}(), "pw", sign.ErrKeyFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := sign.LoadPrivateKey(tc.key, []byte(tc.password))
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("LoadPrivateKey: %v, want %v", err, tc.want)
				}
				if s != nil {
					t.Error("a signer came back with the error")
				}
				for _, other := range []error{sign.ErrWrongPassword, sign.ErrKeyFormat, sign.ErrPublicKeyGiven} {
					if !errors.Is(tc.want, other) && errors.Is(err, other) {
						t.Errorf("error %v is also %v; the two must stay distinct", err, other)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadPrivateKey: %v", err)
			}
			if tc.name != "ours" {
				v, err := sign.LoadPublicKey(readFixture(t, "cosign-v2.pub"))
				if err != nil {
					t.Fatal(err)
				}
				signAndVerify(t, s, v)
			}
		})
	}
}

func TestLoadPublicKey(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		pem  []byte
		want error // nil: loads
	}{
		{"cosign's", readFixture(t, "cosign-v2.pub"), nil},
		{"empty", nil, sign.ErrKeyFormat},
		{"garbage", []byte("-----BEGIN NOTHING-----\n"), sign.ErrKeyFormat},
		{"PUBLIC KEY with junk inside", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte("junk")}), sign.ErrKeyFormat},
		{"encrypted private key", readFixture(t, "cosign-v2.key"), sign.ErrPrivateKeyGiven},
		{"pre-v2 encrypted private key", readFixture(t, "legacy-cosign.key"), sign.ErrPrivateKeyGiven},
		{"unencrypted private key", plainPEM(t, rsaKey), sign.ErrPrivateKeyGiven},
		{"base64 without PEM armour", []byte(base64.StdEncoding.EncodeToString(readFixture(t, "cosign-v2.pub"))), sign.ErrKeyFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := sign.LoadPublicKey(tc.pem)
			if tc.want == nil {
				if err != nil || v == nil || v.PublicKey() == nil {
					t.Fatalf("LoadPublicKey: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("LoadPublicKey: %v, want %v", err, tc.want)
			}
			for _, other := range []error{sign.ErrKeyFormat, sign.ErrPrivateKeyGiven} {
				if !errors.Is(tc.want, other) && errors.Is(err, other) {
					t.Errorf("error %v is also %v; the two must stay distinct", err, other)
				}
			}
		})
	}
}

// TestKindOfKey: each half of a pair is recognised from its PEM type alone, whoever wrote it.
func TestKindOfKey(t *testing.T) {
	ours, pub, err := sign.GenerateKeyPair([]byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		pem  []byte
		want sign.KeyKind
	}{
		{"ingot's private key", ours, sign.KeyPrivate},
		{"ingot's public key", pub, sign.KeyPublic},
		{"cosign's private key", readFixture(t, "cosign-v2.key"), sign.KeyPrivate},
		{"cosign's public key", readFixture(t, "cosign-v2.pub"), sign.KeyPublic},
		{"pre-v2 cosign private key", readFixture(t, "legacy-cosign.key"), sign.KeyPrivate},
		{"unencrypted PKCS#8", plainPEM(t, p256), sign.KeyPrivate},
		{"certificate", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("x")}), sign.KeyUnknown},
		{"garbage", []byte("not a key\n"), sign.KeyUnknown},
		{"empty", nil, sign.KeyUnknown},
	} {
		if got := sign.KindOfKey(tc.pem); got != tc.want {
			t.Errorf("%s: KindOfKey = %d, want %d", tc.name, got, tc.want)
		}
	}
}

// Keys and blob signatures work both ways between ingot and the real cosign, v2 and v3, offline.
func TestKeysInteropWithCosign(t *testing.T) {
	for _, major := range []int{2, 3} {
		t.Run("v"+string(rune('0'+major)), func(t *testing.T) {
			bin := regtest.Cosign(t, major)
			dir := t.TempDir()
			const password = "interop pw"
			env := []string{"COSIGN_PASSWORD=" + password}
			cosign := func(args ...string) string {
				t.Helper()
				stdout, stderr, err := regtest.RunCosign(t, bin, env, args...)
				if err != nil {
					t.Fatalf("cosign %s: %v\n%s", strings.Join(args, " "), err, stderr)
				}
				return stdout
			}
			write := func(name string, data []byte) string {
				t.Helper()
				p := filepath.Join(dir, name)
				if err := os.WriteFile(p, data, 0o600); err != nil {
					t.Fatal(err)
				}
				return p
			}

			// cosign's key pair loads in ingot, and ingot's signatures verify with cosign's public key.
			theirs := filepath.Join(dir, "theirs")
			cosign("generate-key-pair", "--output-key-prefix", theirs)
			theirKey, err := os.ReadFile(theirs + ".key")
			if err != nil {
				t.Fatal(err)
			}
			s, err := sign.LoadPrivateKey(theirKey, []byte(password))
			if err != nil {
				t.Fatalf("loading cosign's private key: %v", err)
			}
			if _, err := sign.LoadPrivateKey(theirKey, []byte("not it")); !errors.Is(err, sign.ErrWrongPassword) {
				t.Errorf("cosign's key with the wrong password: %v, want ErrWrongPassword", err)
			}
			theirPub, err := os.ReadFile(theirs + ".pub")
			if err != nil {
				t.Fatal(err)
			}
			v, err := sign.LoadPublicKey(theirPub)
			if err != nil {
				t.Fatalf("loading cosign's public key: %v", err)
			}
			signAndVerify(t, s, v)

			// ingot's key pair works in cosign: the same public key, and blob signatures both ways.
			privPEM, pubPEM, err := sign.GenerateKeyPair([]byte(password))
			if err != nil {
				t.Fatal(err)
			}
			ourKey, ourPub := write("ours.key", privPEM), write("ours.pub", pubPEM)
			if got := cosign("public-key", "--key", ourKey); strings.TrimSpace(got) != strings.TrimSpace(string(pubPEM)) {
				t.Errorf("cosign public-key --key ours.key printed\n%s\nwant\n%s", got, pubPEM)
			}
			ours, err := sign.LoadPrivateKey(privPEM, []byte(password))
			if err != nil {
				t.Fatal(err)
			}
			ourVerifier, err := sign.LoadPublicKey(pubPEM)
			if err != nil {
				t.Fatal(err)
			}
			blob := []byte("an artifact ingot built\n")
			blobPath := write("blob.txt", blob)

			// cosign signs with our key; our Verifier accepts the signature.
			var cosignSig []byte
			if major == 2 {
				out := cosign("sign-blob", "--key", ourKey, "--tlog-upload=false", "-y", blobPath)
				cosignSig, err = base64.StdEncoding.DecodeString(strings.TrimSpace(out))
				if err != nil {
					t.Fatalf("cosign sign-blob printed %q, not base64: %v", out, err)
				}
			} else {
				// v3 writes a sigstore bundle; the signature is its messageSignature.
				bundle := filepath.Join(dir, "blob.sigstore.json")
				cosign("sign-blob", "--key", ourKey, "--signing-config", regtest.SigningConfig(t, bin), "--bundle", bundle, "-y", blobPath)
				var b struct {
					MessageSignature struct {
						Signature []byte `json:"signature"`
					} `json:"messageSignature"`
				}
				raw, err := os.ReadFile(bundle)
				if err != nil {
					t.Fatal(err)
				}
				if err := json.Unmarshal(raw, &b); err != nil || len(b.MessageSignature.Signature) == 0 {
					t.Fatalf("cosign's bundle has no message signature (%v): %s", err, raw)
				}
				cosignSig = b.MessageSignature.Signature
			}
			if err := ourVerifier.Verify(blob, cosignSig); err != nil {
				t.Errorf("our Verifier rejected cosign v%d's signature made with our key: %v", major, err)
			}
			if err := v.Verify(blob, cosignSig); err == nil {
				t.Error("another key's Verifier accepted it")
			}

			// Our Signer signs; cosign verify-blob accepts the base64 signature with our public key, and
			// rejects it for a changed blob.
			sig, err := ours.Sign(t.Context(), blob)
			if err != nil {
				t.Fatal(err)
			}
			sigPath := write("blob.sig", []byte(base64.StdEncoding.EncodeToString(sig)))
			cosign("verify-blob", "--key", ourPub, "--insecure-ignore-tlog", "--signature", sigPath, blobPath)
			changed := write("changed.txt", []byte("an artifact someone else built\n"))
			if _, _, err := regtest.RunCosign(t, bin, nil, "verify-blob", "--key", ourPub, "--insecure-ignore-tlog", "--signature", sigPath, changed); err == nil {
				t.Errorf("cosign v%d verify-blob accepted our signature for another blob", major)
			}
		})
	}
}
