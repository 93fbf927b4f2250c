package sign_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/ingot-build/ingot/pkg/sign"
)

// A key pair in cosign's formats: the encrypted private key signs, the PEM public key verifies. The
// same files work with cosign (cosign public-key, sign, verify --key).
func ExampleGenerateKeyPair() {
	password := []byte("correct horse battery staple")
	privPEM, pubPEM, err := sign.GenerateKeyPair(password)
	if err != nil {
		log.Fatal(err)
	}

	signer, err := sign.LoadPrivateKey(privPEM, password)
	if err != nil {
		log.Fatal(err)
	}
	payload := []byte(`{"critical":{"image":{"docker-manifest-digest":"sha256:…"}}}`)
	sig, err := signer.Sign(context.Background(), payload)
	if err != nil {
		log.Fatal(err)
	}

	verifier, err := sign.LoadPublicKey(pubPEM)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("genuine:", verifier.Verify(payload, sig) == nil)
	fmt.Println("tampered:", verifier.Verify([]byte(`{"critical":{}}`), sig) == nil)

	_, err = sign.LoadPrivateKey(privPEM, []byte("guess"))
	fmt.Println("wrong password:", errors.Is(err, sign.ErrWrongPassword))
	// Output:
	// genuine: true
	// tampered: false
	// wrong password: true
}
