package telegram

import (
	"strings"
	"unicode/utf16"
)

// MaxMessageLength is sendMessage's limit: 4,096 characters of text after
// entity parsing (the tags do not count), counted in UTF-16 code units as
// Telegram counts entity offsets.
const MaxMessageLength = 4096

// Telegram's HTML parse mode knows these tags only; any other is refused
// with "can't parse entities", so SanitizeHTML escapes them.
var allowedTags = map[string]bool{
	"b": true, "strong": true, "i": true, "em": true, "u": true, "ins": true, "s": true, "strike": true, "del": true,
	"code": true, "pre": true, "a": true, "blockquote": true, "tg-spoiler": true,
}

// EscapeHTML escapes the three characters Telegram's HTML mode requires
// escaped in text: &, < and >.
func EscapeHTML(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func escapeAttr(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}

// token is a piece of Telegram HTML: a tag (open or close) or text (already
// escaped as Telegram wants it).
type token struct {
	tag   string // tag name; "" for text
	close bool
	raw   string // the tag as written (with attributes) or the escaped text
	runes int    // UTF-16 length of the text it shows (tags show none)
}

// SanitizeHTML makes text acceptable to Telegram's HTML parse mode, keeping
// what the author meant where it can: the supported tags stay (a link keeps
// only its href), any other tag is shown as text, a bare & or < is escaped,
// a stray closing tag is dropped and tags left open are closed at the end.
func SanitizeHTML(s string) string {
	var b strings.Builder
	for _, t := range balance(parseHTML(s)) {
		b.WriteString(t.raw)
	}
	return b.String()
}

// parseHTML splits s into tokens, escaping whatever is not a supported tag.
func parseHTML(s string) []token {
	var out []token
	text := func(t string) {
		if t != "" {
			out = append(out, token{raw: t, runes: visibleLength(t)})
		}
	}
	for len(s) > 0 {
		i := strings.IndexAny(s, "<&>")
		if i < 0 {
			text(s)
			break
		}
		text(s[:i])
		s = s[i:]
		switch s[0] {
		case '>':
			text("&gt;")
			s = s[1:]
		case '&':
			if n := entityLength(s); n > 0 {
				text(s[:n])
				s = s[n:]
			} else {
				text("&amp;")
				s = s[1:]
			}
		case '<':
			if t, n, ok := parseTag(s); ok {
				out = append(out, t)
				s = s[n:]
			} else {
				text("&lt;")
				s = s[1:]
			}
		}
	}
	return out
}

// entityLength is the length of a character reference Telegram accepts
// (&lt; &gt; &amp; &quot; or a numeric one) at the start of s, else 0.
func entityLength(s string) int {
	for _, e := range []string{"&lt;", "&gt;", "&amp;", "&quot;"} {
		if strings.HasPrefix(s, e) {
			return len(e)
		}
	}
	if strings.HasPrefix(s, "&#") {
		j := 2
		hex := j < len(s) && (s[j] == 'x' || s[j] == 'X')
		if hex {
			j++
		}
		start := j
		for j < len(s) && j-start < 8 && (s[j] >= '0' && s[j] <= '9' || hex && (s[j] >= 'a' && s[j] <= 'f' || s[j] >= 'A' && s[j] <= 'F')) {
			j++
		}
		if j > start && j < len(s) && s[j] == ';' {
			return j + 1
		}
	}
	return 0
}

// parseTag reads a supported tag at the start of s.
func parseTag(s string) (token, int, bool) {
	end := strings.IndexByte(s, '>')
	if end < 0 {
		return token{}, 0, false
	}
	inner := s[1:end]
	closing := strings.HasPrefix(inner, "/")
	inner = strings.TrimPrefix(inner, "/")
	name, attrs, _ := strings.Cut(inner, " ")
	name = strings.ToLower(strings.TrimSpace(name))
	if name == "span" && (closing || strings.Contains(attrs, "tg-spoiler")) {
		name = "tg-spoiler" // Telegram's other spelling of a spoiler
	}
	if !allowedTags[name] {
		return token{}, 0, false
	}
	if closing {
		return token{tag: name, close: true, raw: "</" + name + ">"}, end + 1, true
	}
	switch name {
	case "a":
		href := attrValue(attrs, "href")
		if href == "" {
			return token{}, 0, false
		}
		return token{tag: "a", raw: `<a href="` + escapeAttr(href) + `">`}, end + 1, true
	case "code":
		if lang := attrValue(attrs, "class"); strings.HasPrefix(lang, "language-") {
			return token{tag: "code", raw: `<code class="` + escapeAttr(lang) + `">`}, end + 1, true
		}
	}
	return token{tag: name, raw: "<" + name + ">"}, end + 1, true
}

// attrValue reads name="value" (or 'value') from a tag's attributes.
func attrValue(attrs, name string) string {
	i := strings.Index(strings.ToLower(attrs), name+"=")
	if i < 0 {
		return ""
	}
	v := attrs[i+len(name)+1:]
	if len(v) == 0 {
		return ""
	}
	if q := v[0]; q == '"' || q == '\'' {
		if j := strings.IndexByte(v[1:], q); j >= 0 {
			return unescapeAttr(v[1 : j+1])
		}
		return ""
	}
	v, _, _ = strings.Cut(v, " ")
	return unescapeAttr(v)
}

func unescapeAttr(s string) string {
	return strings.NewReplacer("&quot;", `"`, "&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(s)
}

// balance drops closing tags that close nothing open and closes what is
// left open, innermost first (a closing tag closes the tags opened inside
// it too, as browsers do).
func balance(in []token) []token {
	var out []token
	var open []token
	for _, t := range in {
		switch {
		case t.tag == "":
			out = append(out, t)
		case !t.close:
			open = append(open, t)
			out = append(out, t)
		default:
			i := len(open) - 1
			for i >= 0 && open[i].tag != t.tag {
				i--
			}
			if i < 0 {
				continue
			}
			for j := len(open) - 1; j >= i; j-- {
				out = append(out, token{tag: open[j].tag, close: true, raw: "</" + open[j].tag + ">"})
			}
			open = open[:i]
		}
	}
	for j := len(open) - 1; j >= 0; j-- {
		out = append(out, token{tag: open[j].tag, close: true, raw: "</" + open[j].tag + ">"})
	}
	return out
}

// visibleLength is the UTF-16 length of escaped text as Telegram shows it
// (a character reference counts as one character).
func visibleLength(escaped string) int {
	n := 0
	for len(escaped) > 0 {
		w, size := nextChar(escaped)
		n += w
		escaped = escaped[size:]
	}
	return n
}

// nextChar is the UTF-16 width and byte size of the first character of
// escaped text (a character reference is one character).
func nextChar(s string) (width, size int) {
	if s[0] == '&' {
		if l := entityLength(s); l > 0 {
			return 1, l
		}
	}
	r, size := decodeRune(s)
	if w := utf16.RuneLen(r); w > 0 {
		return w, size
	}
	return 1, size
}

// VisibleLength is how long Telegram counts html (already sanitized) to be.
func VisibleLength(html string) int {
	n := 0
	for _, t := range parseHTML(html) {
		n += t.runes
	}
	return n
}

// SplitHTML cuts sanitized HTML into messages of at most limit visible
// characters each, in order: at a paragraph break if there is one in the
// last part of a message, else at a line break, else after a space, else
// anywhere (never inside a tag or a character reference). Tags open at a
// cut are closed at the end of one message and opened again at the start
// of the next, so each message is valid on its own.
func SplitHTML(html string, limit int) []string {
	toks := balance(parseHTML(html))
	var parts []string
	var cur strings.Builder
	var open []token
	size := 0
	flush := func() {
		for j := len(open) - 1; j >= 0; j-- {
			cur.WriteString("</" + open[j].tag + ">")
		}
		if s := cur.String(); strings.TrimSpace(stripTags(s)) != "" {
			parts = append(parts, s)
		}
		cur.Reset()
		size = 0
		for _, t := range open {
			cur.WriteString(t.raw)
		}
	}
	for _, t := range toks {
		if t.tag != "" {
			cur.WriteString(t.raw)
			if t.close {
				for i := len(open) - 1; i >= 0; i-- {
					if open[i].tag == t.tag {
						open = append(open[:i], open[i+1:]...)
						break
					}
				}
			} else {
				open = append(open, t)
			}
			continue
		}
		text := t.raw
		for text != "" {
			room := limit - size
			if visibleLength(text) <= room {
				cur.WriteString(text)
				size += visibleLength(text)
				break
			}
			cut := cutPoint(text, room, limit, size == 0)
			cur.WriteString(text[:cut])
			size += visibleLength(text[:cut])
			text = text[cut:]
			flush()
		}
	}
	if size > 0 || len(parts) == 0 {
		for j := len(open) - 1; j >= 0; j-- {
			cur.WriteString("</" + open[j].tag + ">")
		}
		if s := cur.String(); strings.TrimSpace(stripTags(s)) != "" || len(parts) == 0 {
			parts = append(parts, s)
		}
	}
	return parts
}

// cutPoint is where to cut escaped text so that at most room characters
// stay before the cut: after the last paragraph break, line break or space
// within the last quarter of the room, else exactly at room. 0 means "start
// the text in a new message" (little room left in a message begun already).
func cutPoint(text string, room, limit int, empty bool) int {
	// offs[k] is the byte offset after the first k characters that fit.
	offs := []int{0}
	count, i := 0, 0
	for i < len(text) {
		w, size := nextChar(text[i:])
		if count+w > room {
			break
		}
		count += w
		i += size
		offs = append(offs, i)
	}
	end := offs[len(offs)-1]
	floor := offs[(len(offs)-1)*3/4]
	for _, sep := range []string{"\n\n", "\n", " "} {
		if j := strings.LastIndex(text[:end], sep); j >= 0 && j+len(sep) >= floor && j+len(sep) > 0 {
			return j + len(sep)
		}
	}
	if !empty && (end == 0 || room < limit/4) {
		return 0
	}
	if end == 0 {
		// Not even one character fits an empty message (limit < 2 for a
		// surrogate pair): send it alone rather than loop.
		_, size := nextChar(text)
		return size
	}
	return end
}

func decodeRune(s string) (rune, int) {
	for i, r := range s {
		if i > 0 {
			break
		}
		if r == '\uFFFD' && !strings.HasPrefix(s, "\uFFFD") {
			return r, 1
		}
		return r, len(string(r))
	}
	return 0, 0
}

func stripTags(s string) string {
	var b strings.Builder
	for _, t := range parseHTML(s) {
		if t.tag == "" {
			b.WriteString(t.raw)
		}
	}
	return b.String()
}
