package postgres

import (
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"
	"io"
)

// ErrWrongSecretKey: a stored webhook secret does not open with the configured key.
var ErrWrongSecretKey = errors.New("a webhook secret does not decrypt with " + EncryptionKeyVariable + ": it is not the key the secret was stored with (or the row was altered)")

// sealer encrypts configuration secrets with AES-256-GCM under
// SOCIALOPS_ENCRYPTION_KEY, bound to additional data naming their row, so a
// ciphertext copied to another row does not open.
type sealer struct {
	aead   cipher.AEAD // nil without a usable key
	keyErr error       // why aead is nil
	random io.Reader
}

func newSealer(key []byte, random io.Reader) sealer {
	s := sealer{random: random}
	switch {
	case len(key) == 0:
		s.keyErr = errors.New(EncryptionKeyVariable + " is not set: webhook secrets cannot be encrypted or decrypted")
	case len(key) != 32:
		s.keyErr = fmt.Errorf("%s must be 32 bytes (AES-256), got %d", EncryptionKeyVariable, len(key))
	default:
		block, err := aes.NewCipher(key)
		if err == nil {
			s.aead, err = cipher.NewGCM(block)
		}
		if err != nil {
			s.keyErr = fmt.Errorf("%s: %w", EncryptionKeyVariable, err)
		}
	}
	return s
}

func (s sealer) seal(plain, additional []byte) (ciphertext, nonce []byte, err error) {
	if s.aead == nil {
		return nil, nil, s.keyErr
	}
	nonce = make([]byte, s.aead.NonceSize())
	if _, err := io.ReadFull(s.random, nonce); err != nil {
		return nil, nil, fmt.Errorf("nonce: %w", err)
	}
	return s.aead.Seal(nil, nonce, plain, additional), nonce, nil
}

func (s sealer) open(ciphertext, nonce, additional []byte) ([]byte, error) {
	if s.aead == nil {
		return nil, s.keyErr
	}
	if len(nonce) != s.aead.NonceSize() {
		return nil, ErrWrongSecretKey
	}
	plain, err := s.aead.Open(nil, nonce, ciphertext, additional)
	if err != nil {
		return nil, ErrWrongSecretKey
	}
	return plain, nil
}
