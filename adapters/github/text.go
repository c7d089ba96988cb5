package github

// This file is kept identical (but for the package clause) in adapters/generic,
// adapters/telegram and adapters/github: each adapter stays a leaf package that
// depends only on domain and the standard library.

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Output bounds, the same for every adapter.
const (
	// MaxTextBytes bounds InboundMessage.Text: longer text is cut on a rune
	// boundary and ends in "…" (the whole result is at most MaxTextBytes bytes).
	MaxTextBytes = 64 << 10
	// MaxSubjectRunes bounds InboundMessage.Subject, in characters (runes).
	MaxSubjectRunes = 300
	// MaxDisplayNameRunes bounds Sender.DisplayName, in characters (runes).
	MaxDisplayNameRunes = 128
)

const ellipsis = "…"

// cleanText makes s safe to store and show as multi-line text: valid UTF-8,
// line breaks normalized to "\n", control characters other than "\n" and "\t"
// removed (PostgreSQL text refuses NUL), surrounding white space trimmed, and at
// most maxBytes bytes long.
func cleanText(s string, maxBytes int) string {
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
	return truncateBytes(strings.TrimSpace(s), maxBytes)
}

// cleanLine makes s a single line: valid UTF-8, every run of white space and
// control characters collapsed to one space, trimmed, and at most maxRunes
// characters long.
func cleanLine(s string, maxRunes int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	return truncateRunes(s, maxRunes)
}

// truncateBytes cuts valid UTF-8 s to at most max bytes on a rune boundary,
// marking the cut with an ellipsis.
func truncateBytes(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max - len(ellipsis)
	if cut < 0 {
		cut = 0
	}
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strings.TrimRightFunc(s[:cut], unicode.IsSpace) + ellipsis
}

// truncateRunes cuts valid UTF-8 s to at most max runes, marking the cut with
// an ellipsis.
func truncateRunes(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	if max <= 0 {
		return ""
	}
	n := 0
	for i := range s {
		if n == max-1 {
			return strings.TrimRightFunc(s[:i], unicode.IsSpace) + ellipsis
		}
		n++
	}
	return s
}

// firstLine is the first non-blank line of s.
func firstLine(s string) string {
	for line := range strings.Lines(s) {
		if strings.TrimSpace(line) != "" {
			return line
		}
	}
	return ""
}
