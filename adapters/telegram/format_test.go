package telegram_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/telegram"
)

func TestMarkdownToHTML(t *testing.T) {
	for md, want := range map[string]string{
		"**bold** and *italic*":                 "<b>bold</b> and <i>italic</i>",
		"__bold__ _it_ ~~gone~~ ||secret||":     "<b>bold</b> <i>it</i> <s>gone</s> <tg-spoiler>secret</tg-spoiler>",
		"a < b && c > d":                        "a &lt; b &amp;&amp; c &gt; d",
		"2 * 3 * 4 = 24":                        "2 * 3 * 4 = 24",
		"snake_case_name stays":                 "snake_case_name stays",
		"`x < 1 && **y**`":                      "<code>x &lt; 1 &amp;&amp; **y**</code>",
		"[docs](https://example.com/a?b=1&c=2)": `<a href="https://example.com/a?b=1&amp;c=2">docs</a>`,
		"[bad](javascript:alert(1))":            "[bad](javascript:alert(1))",
		"# Title\n- one\n* two":                 "<b>Title</b>\n• one\n• two",
		"> quoted\n> more\nafter":               "<blockquote>quoted\nmore</blockquote>\nafter",
		"```go\nif a < b {}\n```":               `<pre><code class="language-go">if a &lt; b {}</code></pre>`,
		"```\n<b>not bold</b>\n```":             "<pre>&lt;b&gt;not bold&lt;/b&gt;</pre>",
		`\*not italic\*`:                        "*not italic*",
		"**unclosed bold":                       "**unclosed bold",
		"中文 **粗体** 和 _斜体_":                      "中文 <b>粗体</b> 和 <i>斜体</i>",
		"<script>alert(1)</script>":             "&lt;script&gt;alert(1)&lt;/script&gt;",
		"**[link](https://t.me/x)** ok":         `<b><a href="https://t.me/x">link</a></b> ok`,
	} {
		assert.Equal(t, want, telegram.MarkdownToHTML(md), md)
	}
}

func TestSanitizeHTML(t *testing.T) {
	for in, want := range map[string]string{
		"<b>bold</b> <i>it</i>":                              "<b>bold</b> <i>it</i>",
		"<b>never closed":                                    "<b>never closed</b>",
		"stray</i> close":                                    "stray close",
		"<b><i>crossed</b></i>":                              "<b><i>crossed</i></b>",
		"<div>no divs</div>":                                 "&lt;div&gt;no divs&lt;/div&gt;",
		"Tom & Jerry <3":                                     "Tom &amp; Jerry &lt;3",
		"&lt;kept&gt; &amp; &#128512; &#x1F600;":             "&lt;kept&gt; &amp; &#128512; &#x1F600;",
		`<a href="https://x.y/?a=1&b=2" target=_blank>x</a>`: `<a href="https://x.y/?a=1&amp;b=2">x</a>`,
		"<a>no href</a>":                                     "&lt;a&gt;no href",
		`<span class="tg-spoiler">s</span>`:                  "<tg-spoiler>s</tg-spoiler>",
		"<STRONG>caps</STRONG>":                              "<strong>caps</strong>",
	} {
		assert.Equal(t, want, telegram.SanitizeHTML(in), in)
	}
}

// A 10,000-character reply becomes three messages, in order, each within
// Telegram's limit, cut at line breaks, tags closed and reopened.
func TestSplitHTMLLongReply(t *testing.T) {
	var b strings.Builder
	b.WriteString("<b>")
	for i := 0; b.Len() < 10_000; i++ {
		b.WriteString(strings.Repeat("word ", 19) + "end\n")
	}
	b.WriteString("</b>")
	in := telegram.SanitizeHTML(b.String())
	parts := telegram.SplitHTML(in, telegram.MaxMessageLength)
	require.Len(t, parts, 3)
	var visible strings.Builder
	for i, p := range parts {
		assert.LessOrEqual(t, telegram.VisibleLength(p), telegram.MaxMessageLength, "part %d", i)
		assert.True(t, strings.HasPrefix(p, "<b>") && strings.HasSuffix(p, "</b>"), "part %d keeps the bold", i)
		assert.Equal(t, p, telegram.SanitizeHTML(p), "part %d is valid on its own", i)
		visible.WriteString(strip(p))
	}
	assert.Equal(t, strip(in), visible.String(), "nothing lost, nothing repeated, in order")
	for _, p := range parts[:2] {
		assert.True(t, strings.HasSuffix(strings.TrimSuffix(p, "</b>"), "end\n"), "cut after a line")
	}
	// Characters outside the BMP count twice, as Telegram counts them.
	emoji := strings.Repeat("😀", 3000)
	parts = telegram.SplitHTML(emoji, telegram.MaxMessageLength)
	require.Len(t, parts, 2)
	assert.Equal(t, 2048, utf8.RuneCountInString(parts[0]))
}

func strip(s string) string {
	var b strings.Builder
	in := false
	for _, r := range s {
		switch {
		case r == '<':
			in = true
		case r == '>':
			in = false
		case !in:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Whatever the input: every part is within the limit and valid on its own,
// and the parts together show exactly the text of the whole.
func FuzzSplitHTML(f *testing.F) {
	for _, s := range []string{"", "plain", "<b>bold <i>both</b> tail", "a &amp; b &#x1F600; 😀😀", strings.Repeat("x y\n", 40),
		"<pre>" + strings.Repeat("z", 70) + "</pre>", "&&&<<<>>>", "<a href='https://a.b'>" + strings.Repeat("é", 50) + "</a>"} {
		f.Add(s, 16)
	}
	f.Fuzz(func(t *testing.T, in string, limit int) {
		if limit < 2 || limit > 200 || !utf8.ValidString(in) {
			return
		}
		clean := telegram.SanitizeHTML(in)
		assert.Equal(t, clean, telegram.SanitizeHTML(clean), "sanitizing is stable")
		parts := telegram.SplitHTML(clean, limit)
		var visible strings.Builder
		for _, p := range parts {
			if n := telegram.VisibleLength(p); n > limit {
				t.Fatalf("part %q shows %d > %d characters", p, n, limit)
			}
			assert.Equal(t, p, telegram.SanitizeHTML(p))
			visible.WriteString(strip(p))
		}
		// Every character but whitespace at a cut (a message of blanks only
		// is never sent) arrives, in order.
		squeeze := func(s string) string { return strings.Join(strings.Fields(s), "") }
		assert.Equal(t, squeeze(strip(clean)), squeeze(visible.String()))
	})
}

func FuzzMarkdownToHTML(f *testing.F) {
	for _, s := range []string{"**a**", "_b_", "`c`", "```x\ny\n```", "[l](https://a)", "> q", "# h", "\\*", "||s||", "~~", "<&>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, md string) {
		if !utf8.ValidString(md) {
			return
		}
		out := telegram.MarkdownToHTML(md)
		assert.Equal(t, out, telegram.SanitizeHTML(out), "always valid Telegram HTML")
	})
}
