package pgstore

import (
	"crypto/rand"
	"fmt"
)

// sealVersion is the first byte of a sealed token: the format of what
// follows (the nonce, then the ciphertext and tag).
const sealVersion = 1

// aad is the additional data of a sealed token: the table and the merchant,
// so that a row copied elsewhere does not open.
func (s *Store) aad(merchant string) []byte {
	return []byte("ultracart/pgstore v1\x00" + s.table + "\x00" + merchant)
}

// sealToken seals plain with the first key.
func (s *Store) sealToken(merchant string, plain []byte) ([]byte, error) {
	a := s.seal[0]
	out := make([]byte, 1+a.NonceSize(), 1+a.NonceSize()+len(plain)+a.Overhead())
	out[0] = sealVersion
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("ultracart: pgstore: sealing the token of merchant %q: %w", merchant, err)
	}
	return a.Seal(out, out[1:], plain, s.aad(merchant)), nil
}

// open opens a sealed token with the first key that can.
func (s *Store) open(merchant string, sealed []byte) ([]byte, error) {
	if len(sealed) == 0 || sealed[0] != sealVersion {
		return nil, fmt.Errorf("ultracart: pgstore: the sealed token of merchant %q is in an unknown format", merchant)
	}
	for _, a := range s.seal {
		n := a.NonceSize()
		if len(sealed) < 1+n+a.Overhead() {
			continue
		}
		if plain, err := a.Open(nil, sealed[1:1+n], sealed[1+n:], s.aad(merchant)); err == nil {
			return plain, nil
		}
	}
	return nil, fmt.Errorf("ultracart: pgstore: the sealed token of merchant %q opens with none of the store's keys: sealed with another key, or copied from another merchant's row", merchant)
}
