// Package providertext holds what the provider normalizers (adapters/generic,
// adapters/telegram and adapters/github) share: the bounds of a normalized
// inbound message, the cleaning and truncation of the text that goes into it,
// and the decoding of a JSON webhook body. It depends only on domain and the
// standard library.
package providertext

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Output bounds, the same for every provider.
const (
	// MaxTextBytes bounds InboundMessage.Text: longer text is cut on a rune
	// boundary and ends in Ellipsis (the whole result is at most MaxTextBytes
	// bytes).
	MaxTextBytes = 64 << 10
	// MaxSubjectRunes bounds InboundMessage.Subject, in characters (runes).
	MaxSubjectRunes = 300
	// MaxDisplayNameRunes bounds Sender.DisplayName, in characters (runes).
	MaxDisplayNameRunes = 128
)

// Ellipsis marks where TruncateBytes and TruncateRunes (and so CleanText and
// CleanLine) cut a value.
const Ellipsis = "…"

// CleanText makes s safe to store and show as multi-line text: valid UTF-8,
// line breaks normalized to "\n", control characters other than "\n" and "\t"
// removed (PostgreSQL text refuses NUL), surrounding white space trimmed, and at
// most maxBytes bytes long (see TruncateBytes).
func CleanText(s string, maxBytes int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\r':
			return '\n'
		case r == '\n' || r == '\t':
			return r
		case unicode.IsControl(r):
			return -1
		}
		return r
	}, s)
	return TruncateBytes(strings.TrimSpace(s), maxBytes)
}

// CleanLine makes s a single line: valid UTF-8, every run of white space and
// control characters collapsed to one space, trimmed, and at most maxRunes
// characters long (see TruncateRunes).
func CleanLine(s string, maxRunes int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	return TruncateRunes(s, maxRunes)
}

// TruncateBytes cuts valid UTF-8 s to at most max bytes on a rune boundary,
// trims the white space before the cut and marks it with Ellipsis. s is
// returned unchanged when it fits. A max smaller than len(Ellipsis) still
// yields Ellipsis alone.
func TruncateBytes(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max - len(Ellipsis)
	if cut < 0 {
		cut = 0
	}
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strings.TrimRightFunc(s[:cut], unicode.IsSpace) + Ellipsis
}

// TruncateRunes cuts valid UTF-8 s to at most max runes, trims the white space
// before the cut and marks it with Ellipsis (which counts as one of the max
// runes). s is returned unchanged when it fits; a max of zero or less yields
// "".
func TruncateRunes(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	if max <= 0 {
		return ""
	}
	n := 0
	for i := range s {
		if n == max-1 {
			return strings.TrimRightFunc(s[:i], unicode.IsSpace) + Ellipsis
		}
		n++
	}
	return s
}

// FirstLine is the first non-blank line of s, with its line break; "" when s
// has none.
func FirstLine(s string) string {
	for line := range strings.Lines(s) {
		if strings.TrimSpace(line) != "" {
			return line
		}
	}
	return ""
}
