package wecom_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/wecom"
)

// Tencent's published WXBizMsgCrypt sample values (in the official SDKs' samples).
const (
	sampleToken  = "QDG6eK"
	sampleAESKey = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
	sampleCorpID = "wx5823bf96d3bd56c7"

	sampleGETSignature = "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3"
	sampleGETTimestamp = "1409659589"
	sampleGETNonce     = "263014780"
	sampleGETEchostr   = "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="

	samplePOSTSignature = "477715d11cdb4164915debcba66cb864d751f3e6"
	samplePOSTTimestamp = "1409659813"
	samplePOSTNonce     = "1372623149"
	samplePOSTEncrypt   = "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q=="
)

func sampleCrypt(t *testing.T) *wecom.Crypt {
	t.Helper()
	c, err := wecom.NewCrypt(sampleToken, sampleAESKey, sampleCorpID)
	require.NoError(t, err)
	return c
}

func TestPublishedURLVerificationVector(t *testing.T) {
	c := sampleCrypt(t)
	require.Equal(t, sampleGETSignature, wecom.Signature(sampleToken, sampleGETTimestamp, sampleGETNonce, sampleGETEchostr))
	plain, err := c.Open(sampleGETSignature, sampleGETTimestamp, sampleGETNonce, sampleGETEchostr)
	require.NoError(t, err)
	require.Equal(t, "1616140317555161061", string(plain))
}

// The POST vector decrypts, and sealing its plaintext again with the same
// 16-byte prefix reproduces the published ciphertext byte for byte.
func TestPublishedMessageVectorBothWays(t *testing.T) {
	c := sampleCrypt(t)
	require.Equal(t, samplePOSTSignature, wecom.Signature(sampleToken, samplePOSTTimestamp, samplePOSTNonce, samplePOSTEncrypt))
	plain, err := c.Open(samplePOSTSignature, samplePOSTTimestamp, samplePOSTNonce, samplePOSTEncrypt)
	require.NoError(t, err)
	msg, err := wecom.Normalize(plain)
	require.NoError(t, err)
	require.Equal(t, "4561255354251345929", msg.ProviderEventID)
	require.Equal(t, "hello", msg.Text)
	require.Equal(t, sampleCorpID+":mycreate", msg.ExternalThreadID)

	prefix := rawPlain(t, samplePOSTEncrypt)[:16]
	again, err := c.Encrypt(plain, bytes.NewReader(prefix))
	require.NoError(t, err)
	require.Equal(t, samplePOSTEncrypt, again)
}

func TestEncryptDecryptRoundTrip(t *testing.T) {
	c := sampleCrypt(t)
	for _, n := range []int{0, 1, 11, 12, 13, 31, 32, 33, 100} {
		msg := bytes.Repeat([]byte("x"), n)
		enc, err := c.Encrypt(msg, bytes.NewReader(make([]byte, 16)))
		require.NoError(t, err)
		raw, _ := base64.StdEncoding.DecodeString(enc)
		require.Zero(t, len(raw)%32, "padded to 32-byte blocks")
		got, rid, err := c.Decrypt(enc)
		require.NoError(t, err)
		require.Equal(t, msg, got)
		require.Equal(t, sampleCorpID, rid)
	}
}

func TestPadValues(t *testing.T) {
	c := sampleCrypt(t)
	key, _ := wecom.DecodeAESKey(sampleAESKey)
	seal := func(plain []byte) string {
		block, _ := aes.NewCipher(key)
		out := make([]byte, len(plain))
		cipher.NewCBCEncrypter(block, key[:16]).CryptBlocks(out, plain)
		return base64.StdEncoding.EncodeToString(out)
	}
	body := func(msg string) []byte {
		var b bytes.Buffer
		b.Write(make([]byte, 16))
		_ = binary.Write(&b, binary.BigEndian, uint32(len(msg)))
		b.WriteString(msg)
		b.WriteString(sampleCorpID)
		return b.Bytes()
	}
	// 16+4+6+18 = 44 bytes: a pad of 20 (> 16) reaches 64.
	p := append(body("abcdef"), bytes.Repeat([]byte{20}, 20)...)
	msg, rid, err := c.Decrypt(seal(p))
	require.NoError(t, err, "a 32-byte-block pad above 16 is accepted")
	require.Equal(t, "abcdef", string(msg))
	require.Equal(t, sampleCorpID, rid)

	zero := append(body("abcdef"), make([]byte, 20)...)
	_, _, err = c.Decrypt(seal(zero))
	require.ErrorIs(t, err, wecom.ErrBadCiphertext, "pad value 0")

	// 44 + 52 = 96 bytes, last byte 33.
	big := append(body("abcdef"), bytes.Repeat([]byte{33}, 52)...)
	_, _, err = c.Decrypt(seal(big))
	require.ErrorIs(t, err, wecom.ErrBadCiphertext, "pad value above 32")
}

func TestRefusals(t *testing.T) {
	c := sampleCrypt(t)
	_, err := c.Open("0"+sampleGETSignature[1:], sampleGETTimestamp, sampleGETNonce, sampleGETEchostr)
	require.ErrorIs(t, err, wecom.ErrBadSignature)

	other, err := wecom.NewCrypt(sampleToken, sampleAESKey, "ww_other_corp")
	require.NoError(t, err)
	_, err = other.Open(sampleGETSignature, sampleGETTimestamp, sampleGETNonce, sampleGETEchostr)
	require.ErrorIs(t, err, wecom.ErrReceiveID)

	raw, _ := base64.StdEncoding.DecodeString(samplePOSTEncrypt)
	truncated := base64.StdEncoding.EncodeToString(raw[:len(raw)-5]) // part of the last block lost
	_, _, err = c.Decrypt(truncated)
	require.ErrorIs(t, err, wecom.ErrBadCiphertext)
	_, _, err = c.Decrypt("not base64!")
	require.ErrorIs(t, err, wecom.ErrBadCiphertext)

	for _, k := range []string{"", "short", sampleAESKey + "A", sampleAESKey[:42] + "!"} {
		_, err := wecom.NewCrypt(sampleToken, k, sampleCorpID)
		require.ErrorIs(t, err, wecom.ErrInvalidAESKey, k)
	}
}

func rawPlain(t *testing.T, enc string) []byte {
	t.Helper()
	key, _ := wecom.DecodeAESKey(sampleAESKey)
	raw, err := base64.StdEncoding.DecodeString(enc)
	require.NoError(t, err)
	block, _ := aes.NewCipher(key)
	out := make([]byte, len(raw))
	cipher.NewCBCDecrypter(block, key[:16]).CryptBlocks(out, raw)
	return out
}
