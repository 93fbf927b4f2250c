package sign

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
)

// InTotoPayloadType is the DSSE payload type of an in-toto Statement.
const InTotoPayloadType = "application/vnd.in-toto+json"

// Envelope is a DSSE envelope (https://github.com/secure-systems-lab/dsse), in the JSON form cosign
// stores in .att layers. Payload and signatures are base64 in JSON and raw bytes here.
type Envelope struct {
	PayloadType string              `json:"payloadType"`
	Payload     []byte              `json:"payload"`
	Signatures  []EnvelopeSignature `json:"signatures"`
}

// EnvelopeSignature is one signature over the envelope's pre-authentication encoding.
type EnvelopeSignature struct {
	KeyID string `json:"keyid"`
	Sig   []byte `json:"sig"`
}

// PAE is DSSE's pre-authentication encoding: what is actually signed.
func PAE(payloadType string, payload []byte) []byte {
	b := make([]byte, 0, len(payloadType)+len(payload)+32)
	b = append(b, "DSSEv1 "...)
	b = strconv.AppendInt(b, int64(len(payloadType)), 10)
	b = append(b, ' ')
	b = append(b, payloadType...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(len(payload)), 10)
	b = append(b, ' ')
	return append(b, payload...)
}

// SignEnvelope wraps payload in a DSSE envelope signed by s.
func SignEnvelope(ctx context.Context, s Signer, payloadType string, payload []byte) (*Envelope, error) {
	sig, err := s.Sign(ctx, PAE(payloadType, payload))
	if err != nil {
		return nil, fmt.Errorf("signing the envelope: %w", err)
	}
	return &Envelope{PayloadType: payloadType, Payload: payload, Signatures: []EnvelopeSignature{{Sig: sig}}}, nil
}

// Verify checks that one of the envelope's signatures is v's over its payload.
func (e *Envelope) Verify(v Verifier) error {
	if len(e.Signatures) == 0 {
		return fmt.Errorf("%w: the envelope holds no signature", ErrBadSignature)
	}
	pae := PAE(e.PayloadType, e.Payload)
	for _, s := range e.Signatures {
		if v.Verify(pae, s.Sig) == nil {
			return nil
		}
	}
	return fmt.Errorf("%w: no envelope signature verifies with this key", ErrBadSignature)
}

// ParseEnvelope decodes an envelope's JSON, rejecting one without a payload.
func ParseEnvelope(data []byte) (*Envelope, error) {
	var e Envelope
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, fmt.Errorf("%w: DSSE envelope: %w", ErrMalformed, err)
	}
	if e.PayloadType == "" || len(e.Payload) == 0 {
		return nil, fmt.Errorf("%w: DSSE envelope without payload", ErrMalformed)
	}
	return &e, nil
}

// MarshalJSON writes the envelope as DSSE specifies, base64 in standard encoding.
func (e *Envelope) MarshalJSON() ([]byte, error) {
	type sig struct {
		KeyID string `json:"keyid"`
		Sig   string `json:"sig"`
	}
	out := struct {
		PayloadType string `json:"payloadType"`
		Payload     string `json:"payload"`
		Signatures  []sig  `json:"signatures"`
	}{PayloadType: e.PayloadType, Payload: base64.StdEncoding.EncodeToString(e.Payload)}
	for _, s := range e.Signatures {
		out.Signatures = append(out.Signatures, sig{s.KeyID, base64.StdEncoding.EncodeToString(s.Sig)})
	}
	return json.Marshal(out)
}
