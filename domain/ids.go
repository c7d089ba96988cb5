package domain

import (
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"io"
	"strings"
)

// Id prefixes: ids are opaque strings whose prefix says what they name.
const (
	PrefixThread  = "soth_"
	PrefixMessage = "somsg_"
	PrefixAction  = "soact_"
	PrefixChannel = "sochan_"
	PrefixAccount = "conn_"
	PrefixCharge  = "sochg_"
	PrefixRefund  = "sorfd_"
	PrefixCredit  = "socrd_"
)

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// DerivedID is a prefixed id computed from a natural key, so the same input
// always names the same thing (a redelivered webhook finds its thread and
// message again). The parts are hashed, so the key never shows through.
func DerivedID(prefix string, parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	sum := h.Sum(nil)
	return prefix + idEncoding.EncodeToString(sum[:15])
}

// RandomID is a prefixed id from a random source (crypto/rand.Reader in production).
func RandomID(prefix string, random io.Reader) string {
	var b [15]byte
	if _, err := io.ReadFull(random, b[:]); err != nil {
		panic("domain: random source failed: " + err.Error())
	}
	return prefix + idEncoding.EncodeToString(b[:])
}

// EventUUID is a name-based (version 5 style) UUID for an event whose input has
// a natural key: the same key gives the same event id, which the event store
// uses to make a repeated append idempotent.
func EventUUID(parts ...string) string {
	h := sha1.New()
	h.Write([]byte("socialops-event"))
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	sum := h.Sum(nil)
	var u [16]byte
	copy(u[:], sum[:16])
	u[6] = (u[6] & 0x0f) | 0x50
	u[8] = (u[8] & 0x3f) | 0x80
	return formatUUID(u)
}

// RandomUUID is a version 4 UUID from the given random source.
func RandomUUID(random io.Reader) string {
	var u [16]byte
	if _, err := io.ReadFull(random, u[:]); err != nil {
		panic("domain: random source failed: " + err.Error())
	}
	u[6] = (u[6] & 0x0f) | 0x40
	u[8] = (u[8] & 0x3f) | 0x80
	return formatUUID(u)
}

// CryptoRandom is the production random source.
var CryptoRandom io.Reader = rand.Reader

func formatUUID(u [16]byte) string {
	var sb strings.Builder
	enc := hex.EncodeToString(u[:])
	sb.WriteString(enc[0:8])
	sb.WriteByte('-')
	sb.WriteString(enc[8:12])
	sb.WriteByte('-')
	sb.WriteString(enc[12:16])
	sb.WriteByte('-')
	sb.WriteString(enc[16:20])
	sb.WriteByte('-')
	sb.WriteString(enc[20:32])
	return sb.String()
}
