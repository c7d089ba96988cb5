package wecom

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Crypto failures. The HTTP layer answers each with WeCom's plain "error":
// the distinction is for logs and tests.
var (
	ErrBadSignature  = errors.New("wecom: msg_signature does not match")
	ErrBadCiphertext = errors.New("wecom: the ciphertext does not decrypt")
	ErrReceiveID     = errors.New("wecom: the receive id is not the configured corp id")
	ErrInvalidAESKey = errors.New("wecom: the EncodingAESKey must be 43 base64 characters")
)

// blockSize is WXBizMsgCrypt's PKCS#7 block: 32 bytes, not AES's 16, so a
// pad byte ranges from 1 to 32.
const blockSize = 32

// Crypt is WXBizMsgCrypt for one callback configuration: the token signs,
// the EncodingAESKey encrypts, and receiveID (the corp id) closes every
// plaintext.
type Crypt struct {
	token     string
	key       []byte
	receiveID string
}

// NewCrypt checks the EncodingAESKey (43 characters that base64-decode, with
// a "=" appended, to the 32-byte AES-256 key) and returns the crypter.
func NewCrypt(token, encodingAESKey, receiveID string) (*Crypt, error) {
	key, err := DecodeAESKey(encodingAESKey)
	if err != nil {
		return nil, err
	}
	return &Crypt{token: token, key: key, receiveID: receiveID}, nil
}

// DecodeAESKey validates an EncodingAESKey and returns the AES key.
func DecodeAESKey(encodingAESKey string) ([]byte, error) {
	if len(encodingAESKey) != 43 {
		return nil, ErrInvalidAESKey
	}
	key, err := base64.StdEncoding.DecodeString(encodingAESKey + "=")
	if err != nil || len(key) != 32 {
		return nil, ErrInvalidAESKey
	}
	return key, nil
}

// Signature is SHA1 over the sorted, concatenated token, timestamp, nonce
// and ciphertext, in lower-case hex.
func Signature(token, timestamp, nonce, encrypted string) string {
	parts := []string{token, timestamp, nonce, encrypted}
	sort.Strings(parts)
	sum := sha1.Sum([]byte(strings.Join(parts, "")))
	return hex.EncodeToString(sum[:])
}

// Verify checks msg_signature in constant time.
func (c *Crypt) Verify(signature, timestamp, nonce, encrypted string) error {
	want := Signature(c.token, timestamp, nonce, encrypted)
	if subtle.ConstantTimeCompare([]byte(strings.ToLower(signature)), []byte(want)) != 1 {
		return ErrBadSignature
	}
	return nil
}

// Open verifies the signature, decrypts, and checks the receive id: what
// VerifyURL (for echostr) and DecryptMsg (for the Encrypt element) both do.
func (c *Crypt) Open(signature, timestamp, nonce, encrypted string) ([]byte, error) {
	if err := c.Verify(signature, timestamp, nonce, encrypted); err != nil {
		return nil, err
	}
	msg, receiveID, err := c.Decrypt(encrypted)
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(receiveID), []byte(c.receiveID)) != 1 {
		return nil, ErrReceiveID
	}
	return msg, nil
}

// Decrypt opens a base64 ciphertext into its message and receive id,
// without checking either.
func (c *Crypt) Decrypt(encrypted string) (msg []byte, receiveID string, err error) {
	raw, err := base64.StdEncoding.DecodeString(encrypted)
	if err != nil || len(raw) == 0 || len(raw)%aes.BlockSize != 0 {
		return nil, "", fmt.Errorf("%w: not base64 of whole AES blocks", ErrBadCiphertext)
	}
	block, _ := aes.NewCipher(c.key)
	plain := make([]byte, len(raw))
	cipher.NewCBCDecrypter(block, c.key[:aes.BlockSize]).CryptBlocks(plain, raw)
	pad := int(plain[len(plain)-1])
	if pad < 1 || pad > blockSize || pad > len(plain) {
		return nil, "", fmt.Errorf("%w: pad value %d", ErrBadCiphertext, pad)
	}
	plain = plain[:len(plain)-pad]
	if len(plain) < 20 {
		return nil, "", fmt.Errorf("%w: shorter than its header", ErrBadCiphertext)
	}
	n := binary.BigEndian.Uint32(plain[16:20])
	if uint64(n) > uint64(len(plain)-20) {
		return nil, "", fmt.Errorf("%w: message length %d exceeds the plaintext", ErrBadCiphertext, n)
	}
	return plain[20 : 20+n], string(plain[20+n:]), nil
}

// Encrypt seals msg for this configuration's receive id with 16 bytes from
// random in front, as WeCom does (and as a test stand-in for WeCom must).
func (c *Crypt) Encrypt(msg []byte, random io.Reader) (string, error) {
	var buf bytes.Buffer
	prefix := make([]byte, 16)
	if _, err := io.ReadFull(random, prefix); err != nil {
		return "", fmt.Errorf("wecom: random prefix: %w", err)
	}
	buf.Write(prefix)
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(msg)))
	buf.Write(n[:])
	buf.Write(msg)
	buf.WriteString(c.receiveID)
	pad := blockSize - buf.Len()%blockSize
	buf.Write(bytes.Repeat([]byte{byte(pad)}, pad))
	plain := buf.Bytes()
	block, _ := aes.NewCipher(c.key)
	out := make([]byte, len(plain))
	cipher.NewCBCEncrypter(block, c.key[:aes.BlockSize]).CryptBlocks(out, plain)
	return base64.StdEncoding.EncodeToString(out), nil
}
