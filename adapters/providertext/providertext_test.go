package providertext

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/domain"
)

func TestCleanTextAndLine(t *testing.T) {
	tests := []struct {
		name string
		line bool // CleanLine, else CleanText
		in   string
		max  int
		want string
	}{
		{"text kept", false, "hello\tworld\nbye", 100, "hello\tworld\nbye"},
		{"text line breaks normalized", false, "a\r\nb\rc\n", 100, "a\nb\nc"},
		{"text control characters removed", false, "a\x00b\x07c\x1b\u0085d", 100, "abcd"},
		{"text invalid UTF-8 replaced", false, "a\xffb\xc3", 100, "a\uFFFDb\uFFFD"},
		{"text surrounding space trimmed", false, " \n\t text \n ", 100, "text"},
		{"text of controls and space only", false, "\x00 \x07\r\n", 100, ""},
		{"text cut in bytes with a mark", false, "abcdef", 5, "ab…"},
		{"text space before the cut trimmed", false, "ab   cdef", 7, "ab…"},
		{"lines folded into one", true, "first\nsecond\r\nthird", 100, "first second third"},
		{"line runs of space and controls collapsed", true, "  a \t\x00\x07 b\u00a0\u2003c  ", 100, "a b c"},
		{"line run of invalid UTF-8 replaced once", true, "x\xfe\xffy", 100, "x\uFFFDy"},
		{"line blank", true, " \n\t\x00 ", 100, ""},
		{"line cut in runes with a mark", true, "héllo wörld", 7, "héllo…"},
		{"line fits exactly", true, "héllo", 5, "héllo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got string
			if tt.line {
				got = CleanLine(tt.in, tt.max)
				assert.LessOrEqual(t, utf8.RuneCountInString(got), tt.max)
				assert.NotContains(t, got, "\n")
			} else {
				got = CleanText(tt.in, tt.max)
				assert.LessOrEqual(t, len(got), tt.max)
			}
			assert.Equal(t, tt.want, got)
			assert.True(t, utf8.ValidString(got))
		})
	}
}

func TestTruncateBytes(t *testing.T) {
	assert.Equal(t, "abc", TruncateBytes("abc", 3), "fits")
	assert.Equal(t, "", TruncateBytes("", 0))
	assert.Equal(t, "a…", TruncateBytes("abcde", 4))
	// never inside a rune: "ж" is 2 bytes, "😀" 4
	for max := 0; max <= 20; max++ {
		for _, s := range []string{strings.Repeat("ж", 10), strings.Repeat("😀", 5), "a😀bжc😀d"} {
			got := TruncateBytes(s, max)
			require.True(t, utf8.ValidString(got), "%q cut to %d: %q", s, max, got)
			if len(s) > max {
				assert.True(t, strings.HasSuffix(got, Ellipsis), "%q cut to %d: %q", s, max, got)
				if max >= len(Ellipsis) {
					assert.LessOrEqual(t, len(got), max, "%q cut to %d: %q", s, max, got)
				}
			} else {
				assert.Equal(t, s, got)
			}
		}
	}
	assert.Equal(t, "жж…", TruncateBytes(strings.Repeat("ж", 10), 8), "a rune that does not fit is dropped whole")
	assert.Equal(t, Ellipsis, TruncateBytes("abcdef", 2), "a max below the mark's size still marks the cut")
}

func TestTruncateRunes(t *testing.T) {
	assert.Equal(t, "😀😀😀", TruncateRunes("😀😀😀", 3), "fits")
	assert.Equal(t, "😀😀…", TruncateRunes("😀😀😀😀", 3))
	assert.Equal(t, "a…", TruncateRunes("a  bcd", 3), "space before the cut trimmed")
	assert.Equal(t, Ellipsis, TruncateRunes("abc", 1))
	assert.Equal(t, "", TruncateRunes("abc", 0))
	assert.Equal(t, "", TruncateRunes("abc", -1))
	assert.Equal(t, "", TruncateRunes("", 0))
}

func TestFirstLine(t *testing.T) {
	assert.Equal(t, "second\n", FirstLine(" \n\t\nsecond\nthird"))
	assert.Equal(t, "only", FirstLine("only"))
	assert.Equal(t, "", FirstLine(" \n \n"))
	assert.Equal(t, "", FirstLine(""))
}

func TestPresent(t *testing.T) {
	assert.False(t, Present(nil))
	assert.False(t, Present(json.RawMessage(" null ")))
	assert.False(t, Present(json.RawMessage("  ")))
	assert.True(t, Present(json.RawMessage(`""`)))
	assert.True(t, Present(json.RawMessage("[]")))
	assert.True(t, Present(json.RawMessage("0")))
}

func TestDecodeObject(t *testing.T) {
	type doc struct {
		ID   int64 `json:"id"`
		Item *struct {
			Name string `json:"name"`
		} `json:"item"`
	}
	tests := []struct {
		name, body string
		base       *domain.Error
		message    string
	}{
		{"empty", " \n ", domain.ErrInvalidPayload, "the body is empty"},
		{"not an object", `[1]`, domain.ErrInvalidPayload, "the body must be a JSON object"},
		{"cut short", `{"id":`, domain.ErrInvalidPayload, "the body is not valid JSON (at byte 6)"},
		{"syntax error", `{"id":1,}`, domain.ErrInvalidPayload, "the body is not valid JSON (at byte 9)"},
		{"wrong type", `{"item":{"name":5}}`, domain.ErrInvalidField, "item.name must be a string, not number"},
		{"wrong type of a number", `{"id":"x"}`, domain.ErrInvalidField, "id must be an integer, not string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d doc
			trimmed, err := DecodeObject([]byte(tt.body), &d, "test document")
			assert.Nil(t, trimmed)
			var de *domain.Error
			require.ErrorAs(t, err, &de)
			assert.ErrorIs(t, err, tt.base)
			assert.Equal(t, tt.message, de.Message)
		})
	}

	var d doc
	trimmed, err := DecodeObject([]byte(" \n{\"id\":7}\t"), &d, "test document")
	require.NoError(t, err)
	assert.Equal(t, `{"id":7}`, string(trimmed))
	assert.Equal(t, int64(7), d.ID)
}

func TestDecodeErrorOther(t *testing.T) {
	err := DecodeError(&json.UnsupportedValueError{Str: "x"}, "test document")
	var de *domain.Error
	require.ErrorAs(t, err, &de)
	assert.ErrorIs(t, err, domain.ErrInvalidPayload)
	assert.Equal(t, "the body is not a valid test document", de.Message)
}
