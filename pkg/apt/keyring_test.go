package apt

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

func newKey(t testing.TB, name string) *openpgp.Entity {
	t.Helper()
	e, err := openpgp.NewEntity(name, "", name+"@ingot.invalid", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// brokenKey serializes k's primary key and user ID with another key's self-signature over its own
// user ID: a key whose self-signature does not verify, which openpgp.ReadKeyRing leaves out.
func brokenKey(t testing.TB, k, other *openpgp.Entity) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := k.PrimaryKey.Serialize(&b); err != nil {
		t.Fatal(err)
	}
	for _, id := range k.Identities {
		if err := id.UserId.Serialize(&b); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range other.Identities {
		if err := id.SelfSignature.Serialize(&b); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

func serializeKeys(t testing.TB, keys ...*openpgp.Entity) []byte {
	t.Helper()
	var b bytes.Buffer
	for _, k := range keys {
		if err := k.Serialize(&b); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

func detachSign(t testing.TB, k *openpgp.Entity, msg []byte) []byte {
	t.Helper()
	var sig bytes.Buffer
	if err := openpgp.DetachSign(&sig, k, bytes.NewReader(msg), nil); err != nil {
		t.Fatal(err)
	}
	return sig.Bytes()
}

func writeFile(t testing.TB, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "keyring.gpg")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// A signature makes the keyring read the key that made it, and no other; a key whose own
// self-signature does not verify cannot sign, and an unrelated broken key does not matter.
func TestKeyringReadsOnlyTheSigner(t *testing.T) {
	signer, other, broken := newKey(t, "signer"), newKey(t, "other"), newKey(t, "broken")
	ring := slices.Concat(serializeKeys(t, other), brokenKey(t, broken, other), serializeKeys(t, signer))
	msg := []byte("Suite: stable\n")
	now := time.Now()

	kr, err := loadKeyrings([]string{writeFile(t, ring)})
	if err != nil {
		t.Fatal(err)
	}
	// The keys, by their primary key ids.
	keys := map[string]*lazyEntity{}
	for name, k := range map[string]*openpgp.Entity{"signer": signer, "other": other, "broken": broken} {
		if l := kr.byID[k.PrimaryKey.KeyId]; len(l) == 1 {
			keys[name] = l[0]
		}
	}
	if len(keys) != 3 {
		t.Fatalf("%d of the 3 keys found by their ids", len(keys))
	}
	got, err := verifyAny(kr, msg, detachSign(t, signer, msg), now)
	if err != nil {
		t.Fatal(err)
	}
	if want := hex.EncodeToString(signer.PrimaryKey.Fingerprint); got != want {
		t.Errorf("signer %s, want %s", got, want)
	}
	for name, e := range keys {
		if read := e.entity != nil || e.err != nil; read != (name == "signer") {
			t.Errorf("%s's key read: %v, want only the signer's read", name, read)
		}
	}

	// The broken key's own signatures are refused, and say why.
	_, err = verifyAny(kr, msg, detachSign(t, broken, msg), now)
	if !errors.Is(err, ErrSignature) || !strings.Contains(err.Error(), "cannot be used") {
		t.Errorf("signed by the key with a bad self-signature: %v, want ErrSignature saying it cannot be used", err)
	}
	// openpgp.ReadKeyRing agrees on which keys are usable.
	el, err := openpgp.ReadKeyRing(bytes.NewReader(ring))
	if err != nil {
		t.Fatal(err)
	}
	if len(el) != 2 {
		t.Errorf("openpgp.ReadKeyRing: %d keys, want 2 (the broken one left out)", len(el))
	}
}

// Armored keyrings are read as binary ones; a file with no key, or an armored block of another kind,
// is refused when loaded.
func TestKeyringFiles(t *testing.T) {
	k := newKey(t, "armored")
	var armored bytes.Buffer
	w, err := armor.Encode(&armored, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Serialize(w); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	kr, err := loadKeyrings([]string{writeFile(t, armored.Bytes())})
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("x")
	if _, err := verifyAny(kr, msg, detachSign(t, k, msg), time.Now()); err != nil {
		t.Errorf("armored keyring: %v", err)
	}

	var sigBlock bytes.Buffer
	if err := openpgp.ArmoredDetachSign(&sigBlock, k, bytes.NewReader(msg), nil); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"empty":                nil,
		"a signature, no key":  detachSign(t, k, msg),
		"an armored signature": sigBlock.Bytes(),
		"garbage":              []byte("not a keyring at all"),
	} {
		if _, err := loadKeyrings([]string{writeFile(t, data)}); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
	if _, err := loadKeyrings(nil); !errors.Is(err, ErrSource) {
		t.Errorf("no keyring: %v, want ErrSource", err)
	}
}

// hostKeyrings returns the host's apt keyrings (Debian's archive keyrings and any trusted.gpg.d).
func hostKeyrings(t *testing.T) []string {
	var paths []string
	for _, pattern := range []string{"/usr/share/keyrings/*.gpg", "/etc/apt/trusted.gpg.d/*.gpg", "/etc/apt/trusted.gpg.d/*.asc"} {
		m, _ := filepath.Glob(pattern)
		paths = append(paths, m...)
	}
	if len(paths) == 0 {
		t.Skip("no apt keyrings on this host")
	}
	return paths
}

// On the real keyrings of the host, the keys usable through the lazy keyring are exactly those
// openpgp.ReadKeyRing reads, and the InRelease files apt has fetched verify against them.
func TestKeyringHost(t *testing.T) {
	paths := hostKeyrings(t)
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		read := openpgp.ReadKeyRing
		if bytes.HasPrefix(bytes.TrimSpace(data), []byte("-----BEGIN PGP")) {
			read = openpgp.ReadArmoredKeyRing
		}
		el, err := read(bytes.NewReader(data))
		if err != nil {
			t.Errorf("%s: openpgp: %v", p, err)
			continue
		}
		kr, err := loadKeyrings([]string{p})
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		compareKeyrings(t, p, el, kr)
	}

	lists, _ := filepath.Glob("/var/lib/apt/lists/*_InRelease")
	kr, err := loadKeyrings(paths)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lists {
		data, err := os.ReadFile(l)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := verifyClearsigned(kr, data, time.Now()); err != nil {
			t.Errorf("%s: %v", l, err)
		}
	}
	t.Logf("%d keyrings compared, %d InRelease files verified", len(paths), len(lists))
}

// compareKeyrings checks that every key id of every entity in el is usable through kr, with the same
// primary key, and that kr makes no other key usable.
func compareKeyrings(t *testing.T, name string, el openpgp.EntityList, kr *keyring) {
	t.Helper()
	want := map[uint64][]string{}
	for _, e := range el {
		fp := hex.EncodeToString(e.PrimaryKey.Fingerprint)
		want[e.PrimaryKey.KeyId] = append(want[e.PrimaryKey.KeyId], fp)
		for _, sk := range e.Subkeys {
			want[sk.PublicKey.KeyId] = append(want[sk.PublicKey.KeyId], fp)
		}
	}
	got := map[uint64][]string{}
	for id := range kr.byID {
		ents, err := kr.issuer(id)
		if err != nil {
			continue
		}
		for _, e := range ents {
			// a subkey whose binding does not verify is not in the entity, as in ReadKeyRing's
			if e.PrimaryKey.KeyId == id || slices.ContainsFunc(e.Subkeys, func(sk openpgp.Subkey) bool { return sk.PublicKey.KeyId == id }) {
				got[id] = append(got[id], hex.EncodeToString(e.PrimaryKey.Fingerprint))
			}
		}
	}
	for id, fps := range want {
		if !sameStrings(got[id], fps) {
			t.Errorf("%s: key %016X: lazy keyring gives %v, openpgp.ReadKeyRing %v", name, id, got[id], fps)
		}
	}
	for id, fps := range got {
		if _, ok := want[id]; !ok {
			t.Errorf("%s: key %016X (%v) usable through the lazy keyring only", name, id, fps)
		}
	}
}

func sameStrings(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// Whatever a keyring file holds, loading it and asking for any of its keys does not panic, and when
// it loads, the keys it makes usable are those openpgp.ReadKeyRing reads.
func FuzzKeyring(f *testing.F) {
	a, b := newKey(f, "a"), newKey(f, "b")
	f.Add(serializeKeys(f, a, b))
	f.Add(slices.Concat(serializeKeys(f, a), brokenKey(f, b, a)))
	if data, err := os.ReadFile(filepath.Join("testdata", "example", "keyring.gpg")); err == nil {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		kr := &keyring{byID: map[uint64][]*lazyEntity{}}
		if _, err := kr.add(data); err != nil {
			return
		}
		el, err := openpgp.ReadKeyRing(bytes.NewReader(data))
		if err != nil {
			for id := range kr.byID {
				_, _ = kr.issuer(id)
			}
			return
		}
		compareKeyrings(t, "fuzzed", el, kr)
	})
}
