package sign

import (
	"context"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// The parsers below read what a registry serves: untrusted bytes. None may panic, and what parses
// must not verify without a signature by the key.

func FuzzParseEnvelope(f *testing.F) {
	s, v := testKey(f)
	env, err := SignEnvelope(context.Background(), s, InTotoPayloadType, []byte(`{"_type":"https://in-toto.io/Statement/v1"}`))
	if err != nil {
		f.Fatal(err)
	}
	good, _ := env.MarshalJSON()
	f.Add(good)
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := ParseEnvelope(data)
		if err != nil {
			return
		}
		if e.Verify(v) == nil && string(data) != string(good) {
			// Only an envelope holding our signature over its exact PAE may verify.
			if _, err := e.MarshalJSON(); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func FuzzParseBundle(f *testing.F) {
	s, _ := testKey(f)
	env, err := SignEnvelope(context.Background(), s, InTotoPayloadType, []byte(`{}`))
	if err != nil {
		f.Fatal(err)
	}
	b, err := NewBundle(env, "hint")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		pb, err := ParseBundle(data)
		if err != nil {
			return
		}
		if pb.Envelope == nil {
			t.Fatal("a parsed bundle without an envelope")
		}
	})
}

func FuzzParseStatement(f *testing.F) {
	d := v1.Hash{Algorithm: "sha256", Hex: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}
	good, err := NewStatement("example.test/app", d, Predicate{Type: SignPredicateType})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := ParseStatement(data)
		if err != nil {
			return
		}
		if st.PredicateType == "" {
			t.Fatal("a parsed statement without a predicate type")
		}
		_ = st.Names(d)
	})
}

func FuzzParseSimpleSigning(f *testing.F) {
	f.Add([]byte(`{"critical":{"identity":{"docker-reference":"r"},"image":{"docker-manifest-digest":"sha256:00"},"type":"cosign container image signature"},"optional":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := parseSimpleSigning(data)
		if err == nil && p == nil {
			t.Fatal("nil payload without an error")
		}
	})
}
