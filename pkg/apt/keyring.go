package apt

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// keyring holds the keys of a source's keyring files. Reading a key means checking its
// self-signatures: Debian's archive keyring holds 9 RSA-4096 keys with their subkeys, and checking
// all of them took 10 ms, more than the rest of a Release's verification. So the files are only
// split into keys (their packets parsed, no signature checked) when loaded, and a key is read, as
// openpgp.ReadEntity reads it, when a signature names it or one of its subkeys.
type keyring struct {
	byID map[uint64][]*lazyEntity // key id of a primary key or subkey -> the keys holding it
}

// lazyEntity is one key (a primary key and what follows it up to the next primary key) as packets,
// read into an openpgp.Entity at most once.
type lazyEntity struct {
	packets []packet.Packet
	once    sync.Once
	entity  *openpgp.Entity
	err     error
}

// loadKeyrings reads binary or ASCII-armored keyrings, telling them apart by content as apt does for
// Signed-By files.
func loadKeyrings(paths []string) (*keyring, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("%w: no keyring", ErrSource)
	}
	kr := &keyring{byID: map[uint64][]*lazyEntity{}}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("reading keyring: %w", err)
		}
		n, err := kr.add(data)
		if err != nil {
			return nil, fmt.Errorf("reading keyring %s: %w", p, err)
		}
		if n == 0 {
			return nil, fmt.Errorf("reading keyring %s: no keys", p)
		}
	}
	return kr, nil
}

// add splits one keyring file into its keys and returns how many it holds. Packets before the first
// primary key are skipped, as openpgp.ReadKeyRing skips them; a packet that does not parse fails the
// file, as it does there.
func (kr *keyring) add(data []byte) (int, error) {
	var r io.Reader = bytes.NewReader(data)
	if bytes.HasPrefix(bytes.TrimSpace(data), []byte("-----BEGIN PGP")) {
		block, err := armor.Decode(r)
		if err != nil {
			return 0, err
		}
		if block.Type != openpgp.PublicKeyType && block.Type != openpgp.PrivateKeyType {
			return 0, fmt.Errorf("an armored %q, not a key", block.Type)
		}
		r = block.Body
	}
	pr := packet.NewReader(r)
	var cur *lazyEntity
	n := 0
	for {
		p, err := pr.Next()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		if isPrimaryKey(p) {
			cur = &lazyEntity{}
			n++
		}
		if cur == nil {
			continue
		}
		cur.packets = append(cur.packets, p)
		// A key's packets are contiguous: a key id already listed for this key is listed last.
		if id, ok := keyID(p); ok {
			if l := kr.byID[id]; len(l) == 0 || l[len(l)-1] != cur {
				kr.byID[id] = append(l, cur)
			}
		}
	}
}

// isPrimaryKey reports whether p starts a key: a primary public or secret key, not a subkey.
func isPrimaryKey(p packet.Packet) bool {
	switch k := p.(type) {
	case *packet.PublicKey:
		return !k.IsSubkey
	case *packet.PrivateKey:
		return !k.IsSubkey
	}
	return false
}

// keyID returns the key id of a key or subkey packet.
func keyID(p packet.Packet) (uint64, bool) {
	switch k := p.(type) {
	case *packet.PublicKey:
		return k.KeyId, true
	case *packet.PrivateKey:
		return k.KeyId, true
	}
	return 0, false
}

// read reads the key as openpgp.ReadEntity does, checking its self-signatures and subkey bindings.
func (e *lazyEntity) read() (*openpgp.Entity, error) {
	e.once.Do(func() {
		pr := packet.NewReader(bytes.NewReader(nil))
		for i := len(e.packets) - 1; i >= 0; i-- {
			pr.Unread(e.packets[i]) // a stack: the first packet is read first
		}
		e.entity, e.err = openpgp.ReadEntity(pr)
		e.packets = nil
	})
	return e.entity, e.err
}

// issuer returns the keys that hold key id, read, as a keyring for openpgp's verification. A key that
// cannot be read (a self-signature that does not verify, an unsupported algorithm) is left out, as
// openpgp.ReadKeyRing leaves it out; when that leaves none, the reasons are the error.
func (kr *keyring) issuer(id uint64) (openpgp.EntityList, error) {
	var el openpgp.EntityList
	var errs []error
	for _, le := range kr.byID[id] {
		ent, err := le.read()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		el = append(el, ent)
	}
	if len(el) == 0 {
		if len(errs) == 0 {
			return nil, fmt.Errorf("key %016X is not in the keyring", id)
		}
		return nil, fmt.Errorf("key %016X is in the keyring but cannot be used: %w", id, errors.Join(errs...))
	}
	return el, nil
}
