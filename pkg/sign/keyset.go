package sign

import (
	"fmt"
	"slices"
	"strings"
)

// keyset is the keys a verification accepts, each with its hint, so that one fetch of the signatures
// is checked against all of them (an admission policy trusts a current key and the one before it).
type keyset struct {
	keys  []Verifier
	hints []string
}

func newKeyset(vs ...Verifier) (keyset, error) {
	if len(vs) == 0 {
		return keyset{}, fmt.Errorf("%w: no key to verify with", ErrKeyFormat)
	}
	k := keyset{keys: vs, hints: make([]string, len(vs))}
	for i, v := range vs {
		h, err := KeyHint(v.PublicKey())
		if err != nil {
			return keyset{}, err
		}
		k.hints[i] = h
	}
	return k, nil
}

// verify runs check with the key the (unsigned) hint names first, then with the others, and returns
// the hint of the key that verified. A hint only orders the tries: it is never trusted.
func (k keyset) verify(theirHint, source string, check func(Verifier) error) (string, error) {
	first := slices.Index(k.hints, theirHint)
	if first >= 0 && check(k.keys[first]) == nil {
		return k.hints[first], nil
	}
	for i, v := range k.keys {
		if i != first && check(v) == nil {
			return k.hints[i], nil
		}
	}
	return "", k.keyError(theirHint, source)
}

// keyError explains a signature that verifies with none of the keys: another key when its hint names
// one that is not ours, else an altered signature or payload.
func (k keyset) keyError(theirs, source string) error {
	ours := strings.Join(k.hints, ", ")
	switch {
	case theirs != "" && !slices.Contains(k.hints, theirs):
		return fmt.Errorf("%w: %s was made by the key %s, not %s", ErrWrongKey, source, theirs, ours)
	case theirs == "" && len(k.keys) == 1:
		return fmt.Errorf("%w: %s does not verify with this key (signed by another key, or altered)", ErrBadSignature, source)
	case theirs == "":
		return fmt.Errorf("%w: %s does not verify with any of the keys %s (signed by another key, or altered)", ErrBadSignature, source, ours)
	}
	return fmt.Errorf("%w: %s names the key %s but does not verify: its payload or signature was altered", ErrBadSignature, source, theirs)
}
