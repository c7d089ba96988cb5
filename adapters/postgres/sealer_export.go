package postgres

import (
	"io"

	"github.com/socialops/socialops/domain"
)

// Sealer encrypts configuration secrets other packages store (outbound
// webhook signing secrets) exactly as this package stores its own:
// AES-256-GCM under SOCIALOPS_ENCRYPTION_KEY, bound to additional data naming
// the row.
type Sealer struct{ s sealer }

// NewSealer returns a sealer for key (32 bytes; any other key makes every
// Seal and Open fail naming the setting). random supplies nonces (crypto/rand
// when nil).
func NewSealer(key []byte, random io.Reader) Sealer {
	if random == nil {
		random = domain.CryptoRandom
	}
	return Sealer{s: newSealer(key, random)}
}

// Usable reports why secrets cannot be sealed (nil when they can).
func (s Sealer) Usable() error { return s.s.keyErr }

// Seal encrypts plain bound to additional.
func (s Sealer) Seal(plain, additional []byte) (ciphertext, nonce []byte, err error) {
	return s.s.seal(plain, additional)
}

// Open decrypts; ErrWrongSecretKey when the key or additional data differ.
func (s Sealer) Open(ciphertext, nonce, additional []byte) ([]byte, error) {
	return s.s.open(ciphertext, nonce, additional)
}
