package httpapi

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/socialops/socialops/adapters/postgres"
	"github.com/socialops/socialops/domain"
)

// Headers of a signed request (签名认证).
const (
	headerAccessKey = "X-Access-Key"
	headerTimestamp = "X-Timestamp"
	headerNonce     = "X-Nonce"
	headerSignature = "X-Signature"
)

// signatureWindow is how far X-Timestamp may be from the server's clock, and
// how long a nonce is remembered.
const signatureWindow = 5 * time.Minute

// maxSignedBody bounds the body read to check a signature.
const maxSignedBody = 4 << 20

// Errors of signed requests.
var (
	errStaleTimestamp   = &domain.Error{Code: "stale_timestamp", Message: "X-Timestamp is more than 5 minutes from the server's clock"}
	errReplayedNonce    = &domain.Error{Code: "replayed_nonce", Message: "this X-Nonce was used already"}
	errSignatureInvalid = &domain.Error{Code: "request_signature_invalid", Message: "X-Signature does not match the request"}
)

// CanonicalRequest is the string a signed request's X-Signature is the
// HMAC-SHA256 of: METHOD, PATH (as sent), the canonical query, X-Timestamp,
// X-Nonce and the hex SHA-256 of the body, joined by newlines.
func CanonicalRequest(method, path, rawQuery, timestamp, nonce string, body []byte) (string, error) {
	q, err := CanonicalQuery(rawQuery)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(body)
	return strings.Join([]string{strings.ToUpper(method), path, q, timestamp, nonce, hex.EncodeToString(sum[:])}, "\n"), nil
}

// CanonicalQuery sorts the query's parameters by name, then value, and
// joins them as name=value, each percent-encoded per RFC 3986 (everything
// but A–Z a–z 0–9 - . _ ~ as %XX, upper-case hex), with &.
func CanonicalQuery(rawQuery string) (string, error) {
	values, err := url.ParseQuery(rawQuery)
	if err != nil {
		return "", domain.Errorf(errInvalidParameter, "the query string is not valid: %v", err)
	}
	type pair struct{ k, v string }
	var pairs []pair
	for k, vs := range values {
		for _, v := range vs {
			pairs = append(pairs, pair{k, v})
		}
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].k != pairs[j].k {
			return pairs[i].k < pairs[j].k
		}
		return pairs[i].v < pairs[j].v
	})
	parts := make([]string, len(pairs))
	for i, p := range pairs {
		parts[i] = rfc3986(p.k) + "=" + rfc3986(p.v)
	}
	return strings.Join(parts, "&"), nil
}

func rfc3986(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ('A' <= ch && ch <= 'Z') || ('a' <= ch && ch <= 'z') || ('0' <= ch && ch <= '9') || ch == '-' || ch == '.' || ch == '_' || ch == '~' {
			b.WriteByte(ch)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[ch>>4])
		b.WriteByte(hexDigits[ch&15])
	}
	return b.String()
}

// SignRequest is the X-Signature of a canonical request under secret.
func SignRequest(secret []byte, canonical string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(canonical))
	return hex.EncodeToString(m.Sum(nil))
}

// signedCredential proves a signed request: the access key names a live
// signing key, the timestamp is within the window, the signature matches
// the request as sent, and the nonce was not used before (on any process).
// The nonce is recorded only once the signature matched, so nobody can use
// up another's nonces.
func (h *handlers) signedCredential(c *gin.Context) (postgres.APIKey, error) {
	ctx := c.Request.Context()
	accessKey, ts, nonce, sig := c.GetHeader(headerAccessKey), c.GetHeader(headerTimestamp), c.GetHeader(headerNonce), c.GetHeader(headerSignature)
	for _, hd := range [][2]string{{headerTimestamp, ts}, {headerNonce, nonce}, {headerSignature, sig}} {
		if hd[1] == "" {
			return postgres.APIKey{}, domain.Errorf(errUnauthenticated, "a signed request needs the %s header", hd[0])
		}
	}
	if len(nonce) > 128 || strings.ContainsFunc(nonce, func(r rune) bool { return r <= ' ' || r > '~' }) {
		return postgres.APIKey{}, domain.Errorf(errUnauthenticated, "X-Nonce is 1 to 128 visible ASCII characters")
	}
	key, err := h.Tenancy.CredentialByPublicID(ctx, postgres.KindSigningKey, accessKey)
	if err != nil {
		return postgres.APIKey{}, err
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	now := time.Now()
	if err != nil {
		return postgres.APIKey{}, domain.Errorf(errStaleTimestamp, "X-Timestamp is unix seconds, e.g. %d", now.Unix())
	}
	if d := now.Sub(time.Unix(unix, 0)); d > signatureWindow || d < -signatureWindow {
		return postgres.APIKey{}, domain.Errorf(errStaleTimestamp, "X-Timestamp %s is more than 5 minutes from the server's clock (%d)", ts, now.Unix())
	}
	body, err := io.ReadAll(io.LimitReader(c.Request.Body, maxSignedBody+1))
	if err != nil {
		return postgres.APIKey{}, domain.Errorf(domain.ErrInvalidPayload, "could not read the body: %v", err)
	}
	if len(body) > maxSignedBody {
		return postgres.APIKey{}, errTooLarge
	}
	c.Request.Body = io.NopCloser(bytes.NewReader(body))
	path, _, _ := strings.Cut(c.Request.RequestURI, "?")
	canonical, err := CanonicalRequest(c.Request.Method, path, c.Request.URL.RawQuery, ts, nonce, body)
	if err != nil {
		return postgres.APIKey{}, err
	}
	secret, err := h.Tenancy.SigningSecret(ctx, key)
	if err != nil {
		return postgres.APIKey{}, err
	}
	want, _ := hex.DecodeString(SignRequest(secret, canonical))
	got, err := hex.DecodeString(sig)
	if err != nil || !hmac.Equal(want, got) || sig != strings.ToLower(sig) {
		return postgres.APIKey{}, errSignatureInvalid
	}
	fresh, err := h.Tenancy.UseNonce(ctx, key.ID, nonce, now.Add(2*signatureWindow))
	if err != nil {
		return postgres.APIKey{}, err
	}
	if !fresh {
		return postgres.APIKey{}, domain.Errorf(errReplayedNonce, "X-Nonce %q was used already within the last 10 minutes", nonce)
	}
	return key, nil
}
