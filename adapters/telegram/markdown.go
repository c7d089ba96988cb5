package telegram

import (
	"regexp"
	"strings"
)

// MarkdownToHTML converts the Markdown bots commonly write into Telegram's
// HTML parse mode, which is simpler to get right than MarkdownV2's escaping
// of eighteen characters: **bold** and __bold__, *italic* and _italic_,
// ~~strike~~, ||spoiler||, `code`, fenced ``` blocks (with a language),
// [links](https://…), # headings (bold lines), > quotes and - or * list
// items (•). Everything else is text, escaped; the result is sanitized, so
// unbalanced markers can never make Telegram refuse the message.
func MarkdownToHTML(md string) string {
	var out strings.Builder
	lines := strings.Split(strings.ReplaceAll(md, "\r\n", "\n"), "\n")
	var quote []string
	flushQuote := func() {
		if len(quote) > 0 {
			out.WriteString("<blockquote>" + strings.Join(quote, "\n") + "</blockquote>\n")
			quote = nil
		}
	}
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "```") {
			flushQuote()
			lang := strings.TrimSpace(strings.TrimPrefix(trimmed, "```"))
			var code []string
			for i++; i < len(lines) && !strings.HasPrefix(strings.TrimSpace(lines[i]), "```"); i++ {
				code = append(code, lines[i])
			}
			body := EscapeHTML(strings.Join(code, "\n"))
			if lang != "" && languagePattern.MatchString(lang) {
				out.WriteString(`<pre><code class="language-` + lang + `">` + body + "</code></pre>\n")
			} else {
				out.WriteString("<pre>" + body + "</pre>\n")
			}
			continue
		}
		if q, ok := strings.CutPrefix(trimmed, ">"); ok {
			quote = append(quote, inlineMarkdown(strings.TrimSpace(q)))
			continue
		}
		flushQuote()
		switch {
		case headingPattern.MatchString(trimmed):
			out.WriteString("<b>" + inlineMarkdown(headingPattern.ReplaceAllString(trimmed, "")) + "</b>")
		case listPattern.MatchString(line):
			out.WriteString("• " + inlineMarkdown(listPattern.ReplaceAllString(line, "")))
		default:
			out.WriteString(inlineMarkdown(line))
		}
		if i < len(lines)-1 {
			out.WriteString("\n")
		}
	}
	flushQuote()
	return SanitizeHTML(strings.TrimRight(out.String(), "\n"))
}

var (
	headingPattern  = regexp.MustCompile(`^#{1,6}\s+`)
	listPattern     = regexp.MustCompile(`^\s*[-*+]\s+`)
	languagePattern = regexp.MustCompile(`^[A-Za-z0-9_+#.-]{1,30}$`)
	linkPattern     = regexp.MustCompile(`^\[([^\]\n]+)\]\(([^()\s]+)\)`)
)

// inline pairs of markers and the tags they become, longest first.
var inlineMarkers = []struct{ marker, tag string }{
	{"**", "b"}, {"__", "b"}, {"~~", "s"}, {"||", "tg-spoiler"}, {"*", "i"}, {"_", "i"},
}

// inlineMarkdown converts one line's inline markup.
func inlineMarkdown(s string) string {
	var b strings.Builder
	for len(s) > 0 {
		if s[0] == '\\' && len(s) > 1 && strings.ContainsRune("\\`*_~|[]()#>-+.!", rune(s[1])) {
			b.WriteString(EscapeHTML(s[1:2]))
			s = s[2:]
			continue
		}
		if s[0] == '`' {
			if end := strings.IndexByte(s[1:], '`'); end >= 0 {
				b.WriteString("<code>" + EscapeHTML(s[1:end+1]) + "</code>")
				s = s[end+2:]
				continue
			}
		}
		if m := linkPattern.FindStringSubmatch(s); m != nil && safeURL(m[2]) {
			b.WriteString(`<a href="` + escapeAttr(m[2]) + `">` + inlineMarkdown(m[1]) + "</a>")
			s = s[len(m[0]):]
			continue
		}
		matched := false
		for _, im := range inlineMarkers {
			if !strings.HasPrefix(s, im.marker) {
				continue
			}
			rest := s[len(im.marker):]
			end := strings.Index(rest, im.marker)
			// A marker opens only before text and closes only after it
			// ("2 * 3 * 4" stays as it is); _ only at word boundaries.
			if end <= 0 || rest[0] == ' ' || rest[end-1] == ' ' {
				continue
			}
			if im.marker == "_" && end+1 < len(rest) && isWordByte(rest[end+1]) {
				continue
			}
			b.WriteString("<" + im.tag + ">" + inlineMarkdown(rest[:end]) + "</" + im.tag + ">")
			s = rest[end+len(im.marker):]
			matched = true
			break
		}
		if matched {
			continue
		}
		_, size := decodeRune(s)
		b.WriteString(EscapeHTML(s[:size]))
		s = s[size:]
	}
	return b.String()
}

func isWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// safeURL admits the link schemes Telegram opens.
func safeURL(u string) bool {
	l := strings.ToLower(u)
	return strings.HasPrefix(l, "https://") || strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "tg://") || strings.HasPrefix(l, "mailto:")
}
