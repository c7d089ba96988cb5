package console

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/socialops/socialops/domain"
)

// LinkTTL is how long a sign-in link stays valid.
const LinkTTL = 10 * time.Minute

// linkClaims are a one-time sign-in link's: the user, their permissions, a
// link id (jti, recorded when used) and a 10-minute expiry.
type linkClaims struct {
	Permissions []string `json:"permissions"`
	jwt.RegisteredClaims
}

// derive makes a key of its own for each use of the console secret, so a
// link token is no API token (and the reverse), and CSRF tokens are neither.
func derive(secret []byte, purpose string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("socialops console " + purpose))
	return m.Sum(nil)
}

// MintLink makes a one-time sign-in link under base (the server's public URL,
// e.g. http://127.0.0.1:8080), valid LinkTTL from now.
func MintLink(secret []byte, base, user string, permissions []string, now time.Time) (string, error) {
	if len(secret) == 0 {
		return "", errors.New("console link: no secret (SOCIALOPS_JWT_SECRET)")
	}
	if strings.TrimSpace(user) == "" {
		return "", errors.New("console link: a user id is required")
	}
	u, err := url.Parse(strings.TrimSpace(base))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("console link: the base URL must be http(s)://host[:port], got %q", base)
	}
	claims := linkClaims{Permissions: permissions, RegisteredClaims: jwt.RegisteredClaims{
		Subject: user, ID: domain.RandomID("link_", domain.CryptoRandom),
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(LinkTTL)),
	}}
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(derive(secret, "link"))
	if err != nil {
		return "", err
	}
	return strings.TrimRight(u.String(), "/") + "/console/signin?link=" + url.QueryEscape(token), nil
}

// verifyLink checks a link token's signature and expiry.
func verifyLink(secret []byte, raw string, now time.Time) (linkClaims, error) {
	var claims linkClaims
	parser := jwt.NewParser(jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired(),
		jwt.WithLeeway(5*time.Second), jwt.WithTimeFunc(func() time.Time { return now }))
	_, err := parser.ParseWithClaims(raw, &claims, func(*jwt.Token) (any, error) { return derive(secret, "link"), nil })
	switch {
	case err == nil && claims.Subject != "" && claims.ID != "":
		return claims, nil
	case errors.Is(err, jwt.ErrTokenExpired):
		return linkClaims{}, errors.New("this sign-in link has expired (links last 10 minutes): ask for a new one")
	default:
		return linkClaims{}, errors.New("this sign-in link is not valid: copy the whole link, or ask for a new one")
	}
}
