package github

// The X-Hub-Signature-256 check.

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// VerifySignature reports whether header, the X-Hub-Signature-256 header
// ("sha256=<hex>"), is the HMAC-SHA256 of body keyed with secret. The
// comparison is constant time. An empty secret verifies nothing and returns
// false.
func VerifySignature(secret string, body []byte, header string) bool {
	if secret == "" {
		return false
	}
	header = strings.TrimSpace(header)
	const prefix = "sha256="
	if len(header) <= len(prefix) || !strings.EqualFold(header[:len(prefix)], prefix) {
		return false
	}
	got, err := hex.DecodeString(header[len(prefix):])
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}
