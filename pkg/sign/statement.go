package sign

import (
	"encoding/json"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Statement and predicate types ingot writes and reads.
const (
	StatementType = "https://in-toto.io/Statement/v1"
	// StatementTypeV01 is the older statement type cosign attest writes; ingot reads it.
	StatementTypeV01 = "https://in-toto.io/Statement/v0.1"
	// SignPredicateType is the predicate cosign v3 signs an image with in the bundle format: a
	// signature is an attestation that says nothing but "this digest".
	SignPredicateType = "https://sigstore.dev/cosign/sign/v1"
)

// Predicate is one piece of evidence to attest: its in-toto predicate type and its JSON.
type Predicate struct {
	Type string
	JSON json.RawMessage
}

// Statement is an in-toto Statement (v1; v0.1 is read too).
type Statement struct {
	Type          string          `json:"_type"`
	Subject       []Subject       `json:"subject"`
	PredicateType string          `json:"predicateType"`
	Predicate     json.RawMessage `json:"predicate"`
}

// Subject names an artifact by digest.
type Subject struct {
	Name   string            `json:"name,omitempty"`
	Digest map[string]string `json:"digest"`
}

// NewStatement makes the statement binding a predicate to one image digest. The image's repository
// is the subject's name, as cosign attest writes it.
func NewStatement(repo string, d v1.Hash, p Predicate) ([]byte, error) {
	pred := p.JSON
	if len(pred) == 0 {
		pred = json.RawMessage("{}")
	}
	if !json.Valid(pred) {
		return nil, fmt.Errorf("%w: the %s predicate is not valid JSON", ErrMalformed, p.Type)
	}
	return json.Marshal(Statement{
		Type:          StatementType,
		Subject:       []Subject{{Name: repo, Digest: map[string]string{d.Algorithm: d.Hex}}},
		PredicateType: p.Type,
		Predicate:     pred,
	})
}

// ParseStatement decodes an in-toto statement.
func ParseStatement(data []byte) (*Statement, error) {
	var s Statement
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%w: in-toto statement: %w", ErrMalformed, err)
	}
	if s.Type != StatementType && s.Type != StatementTypeV01 {
		return nil, fmt.Errorf("%w: statement type %q", ErrMalformed, s.Type)
	}
	if s.PredicateType == "" {
		return nil, fmt.Errorf("%w: statement without predicate type", ErrMalformed)
	}
	return &s, nil
}

// Names reports whether d is among the statement's subjects.
func (s *Statement) Names(d v1.Hash) bool {
	for _, sub := range s.Subject {
		if sub.Digest[d.Algorithm] == d.Hex {
			return true
		}
	}
	return false
}
