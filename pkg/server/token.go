package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/ingot-build/ingot/pkg/catalog"
)

// secretPrefix starts every token secret, so that people and secret scanners can tell one.
const secretPrefix = "ingot_"

// NewSecret returns a fresh token secret: 32 random bytes, base64url, after secretPrefix.
func NewSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("server: generating a token: %w", err)
	}
	return secretPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// HashSecret is what the catalog keeps of a secret: its SHA-256, hex. Secrets are 256 random bits,
// so there is no dictionary to try against a stolen hash and a slow, salted hash would add nothing;
// an unsalted one lets the server find a token by an indexed lookup.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// ParseScope reads a token scope: read (every GET) or write (everything).
func ParseScope(s string) (string, error) {
	switch s {
	case catalog.ScopeRead, catalog.ScopeWrite:
		return s, nil
	}
	return "", fmt.Errorf("%w: token scope %q (want %s or %s)", catalog.ErrInvalid, s, catalog.ScopeRead, catalog.ScopeWrite)
}

// CreateToken makes a token named name with scope, records its hash in the catalog and returns its
// secret: the only time the secret exists outside the client that keeps it.
func CreateToken(ctx context.Context, tokens catalog.Tokens, name, scope string, now time.Time) (string, catalog.Token, error) {
	if _, err := ParseScope(scope); err != nil {
		return "", catalog.Token{}, err
	}
	if err := catalog.ValidName(name); err != nil {
		return "", catalog.Token{}, err
	}
	secret, err := NewSecret()
	if err != nil {
		return "", catalog.Token{}, err
	}
	t, err := tokens.CreateToken(ctx, catalog.Token{Name: name, Scope: scope, Hash: HashSecret(secret), Created: now.UTC()})
	if err != nil {
		return "", catalog.Token{}, err
	}
	return secret, t, nil
}

// authorize checks that the request carries a token whose scope allows scope; open routes need
// none. The token's name goes to the request's log line (and is the actor of what it changes).
func (s *Server) authorize(r *http.Request, scope string) error {
	if scope == scopeOpen {
		return nil
	}
	t, err := s.authenticate(r)
	if err != nil {
		return err
	}
	infoOf(r.Context()).token = t.Name
	if scope == scopeWrite && t.Scope != catalog.ScopeWrite {
		return fmt.Errorf("%w: token %s has scope %s; this request changes the catalog and needs a token of scope %s", ErrForbidden, t.Name, t.Scope, catalog.ScopeWrite)
	}
	return nil
}

// authenticate finds the token of the request's bearer secret. The catalog is asked for the hash
// of the secret, so what a lookup's timing could reveal is about the hash, not the secret, and the
// stored hash is compared in constant time before it is trusted.
func (s *Server) authenticate(r *http.Request) (catalog.Token, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return catalog.Token{}, fmt.Errorf("%w: this request needs a token: send Authorization: Bearer TOKEN (ingot token create makes one)", ErrUnauthenticated)
	}
	scheme, secret, ok := strings.Cut(h, " ")
	secret = strings.TrimSpace(secret)
	if !ok || !strings.EqualFold(scheme, "Bearer") || secret == "" {
		return catalog.Token{}, fmt.Errorf("%w: the Authorization header must be Bearer TOKEN", ErrUnauthenticated)
	}
	hash := HashSecret(secret)
	t, err := s.cat.TokenByHash(r.Context(), hash)
	if errors.Is(err, catalog.ErrNotFound) {
		return catalog.Token{}, fmt.Errorf("%w: unknown or revoked token", ErrUnauthenticated)
	}
	if err != nil {
		return catalog.Token{}, err
	}
	if subtle.ConstantTimeCompare([]byte(t.Hash), []byte(hash)) != 1 {
		return catalog.Token{}, fmt.Errorf("%w: unknown or revoked token", ErrUnauthenticated)
	}
	return t, nil
}

// actor is who a request acts as: its token's name.
func actor(r *http.Request) string { return infoOf(r.Context()).token }
