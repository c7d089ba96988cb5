package generic

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// SignatureTolerance is the default of how far a signed timestamp may be from
// now, either way (SOCIALOPS_WEBHOOK_TOLERANCE sets it for the server).
const SignatureTolerance = 5 * time.Minute

// Errors of VerifySignature. Every one of them means the request is not
// authenticated (HTTP 401); they differ so logs and callers can tell why.
var (
	ErrMissingSecret    = errors.New("generic webhook: no signing secret is configured")
	ErrMissingTimestamp = errors.New("generic webhook: the signature timestamp is missing")
	ErrInvalidTimestamp = errors.New("generic webhook: the signature timestamp is not unix seconds")
	ErrStaleTimestamp   = errors.New("generic webhook: the signature timestamp is outside the allowed window")
	ErrMissingSignature = errors.New("generic webhook: the signature is missing")
	ErrBadSignature     = errors.New("generic webhook: the signature does not match")
)

// Sign returns the signature VerifySignature accepts: the lowercase hex
// HMAC-SHA256, keyed with secret, of timestamp + "." + body.
func Sign(secret, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(timestamp))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// VerifySignature is VerifySignatureWithin the default SignatureTolerance.
func VerifySignature(secret, timestamp, signature string, body []byte, now time.Time) error {
	return VerifySignatureWithin(secret, timestamp, signature, body, now, SignatureTolerance)
}

// VerifySignatureWithin checks a signed generic-webhook delivery. timestamp is
// unix seconds (decimal) and must be within tolerance of now (a tolerance of
// zero or less means SignatureTolerance); signature is
// the hex HMAC-SHA256 of timestamp + "." + body keyed with secret, optionally
// prefixed "sha256=" (hex digits in either case). The comparison is constant
// time. It returns nil or one of the errors above.
func VerifySignatureWithin(secret, timestamp, signature string, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = SignatureTolerance
	}
	if secret == "" {
		return ErrMissingSecret
	}
	timestamp = strings.TrimSpace(timestamp)
	if timestamp == "" {
		return ErrMissingTimestamp
	}
	if !isDigits(timestamp) {
		return ErrInvalidTimestamp
	}
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return ErrInvalidTimestamp
	}
	window := int64(tolerance / time.Second)
	if n := now.Unix(); ts < n-window || ts > n+window {
		return ErrStaleTimestamp
	}
	signature = strings.TrimSpace(signature)
	if len(signature) >= len("sha256=") && strings.EqualFold(signature[:len("sha256=")], "sha256=") {
		signature = signature[len("sha256="):]
	}
	if signature == "" {
		return ErrMissingSignature
	}
	got, err := hex.DecodeString(signature)
	if err != nil {
		return ErrBadSignature
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(timestamp))
	mac.Write([]byte{'.'})
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return ErrBadSignature
	}
	return nil
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
