package ai

import (
	"math"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ExtractiveModel names summaries made without a model.
const ExtractiveModel = "extractive"

// Extractive summarizes texts without a model, network or model files: it
// splits them into sentences, scores each by the TF-IDF weight of its terms
// (words, and character bigrams in Chinese, Japanese and Korean text, which
// have no spaces to split words on), and keeps the best-scoring sentences,
// in their order, within maxRunes. Text with nothing but blanks gives "".
func Extractive(texts []string, maxRunes int) string {
	var sents []string
	for _, t := range texts {
		sents = append(sents, sentences(t)...)
	}
	if len(sents) == 0 {
		return ""
	}
	terms := make([]map[string]int, len(sents))
	df := map[string]int{}
	for i, s := range sents {
		terms[i] = map[string]int{}
		for _, t := range tokens(s) {
			terms[i][t]++
		}
		for t := range terms[i] {
			df[t]++
		}
	}
	n := float64(len(sents))
	type scored struct {
		i     int
		score float64
	}
	var ranked []scored
	for i, tf := range terms {
		total := 0
		for _, c := range tf {
			total += c
		}
		if total == 0 {
			continue
		}
		var s float64
		for t, c := range tf {
			// Terms in fewer sentences weigh more; a term in every sentence
			// of a one-sentence text still counts.
			s += float64(c) * (math.Log((1+n)/(1+float64(df[t]))) + 1)
		}
		// Long sentences are not favoured just for their length.
		ranked = append(ranked, scored{i, s / math.Sqrt(float64(total))})
	}
	if len(ranked) == 0 {
		return ""
	}
	sort.SliceStable(ranked, func(a, b int) bool { return ranked[a].score > ranked[b].score })
	chosen := map[int]bool{}
	used := 0
	for _, r := range ranked {
		l := utf8.RuneCountInString(sents[r.i]) + 1
		if used > 0 && used+l > maxRunes {
			continue
		}
		chosen[r.i] = true
		used += l
		if used >= maxRunes {
			break
		}
	}
	var parts []string
	for i, s := range sents {
		if chosen[i] {
			parts = append(parts, s)
		}
	}
	return truncateRunes(strings.Join(parts, " "), maxRunes)
}

// sentences splits text at sentence ends (. ! ? and their CJK forms) and
// line breaks, trimming blanks.
func sentences(text string) []string {
	var out []string
	var b strings.Builder
	flush := func() {
		if s := strings.TrimSpace(b.String()); s != "" {
			out = append(out, strings.Join(strings.Fields(s), " "))
		}
		b.Reset()
	}
	rs := []rune(text)
	for i, r := range rs {
		switch {
		case r == '\n':
			flush()
		case strings.ContainsRune("。！？!?；", r):
			b.WriteRune(r)
			flush()
		case r == '.' && (i+1 == len(rs) || unicode.IsSpace(rs[i+1])):
			b.WriteRune(r)
			flush()
		default:
			b.WriteRune(r)
		}
	}
	flush()
	return out
}

// isCJK tells a character written without spaces between words.
func isCJK(r rune) bool {
	return unicode.Is(unicode.Han, r) || unicode.Is(unicode.Hiragana, r) || unicode.Is(unicode.Katakana, r) || unicode.Is(unicode.Hangul, r)
}

// tokens are a sentence's terms: lower-case words of letters and digits
// (two characters or more), and bigrams of consecutive CJK characters (a
// lone one counts as itself).
func tokens(s string) []string {
	var out []string
	var word []rune
	var cjk []rune
	flushWord := func() {
		if len(word) >= 2 {
			out = append(out, strings.ToLower(string(word)))
		}
		word = word[:0]
	}
	flushCJK := func() {
		if len(cjk) == 1 {
			out = append(out, string(cjk))
		}
		for i := 0; i+1 < len(cjk); i++ {
			out = append(out, string(cjk[i:i+2]))
		}
		cjk = cjk[:0]
	}
	for _, r := range s {
		switch {
		case isCJK(r):
			flushWord()
			cjk = append(cjk, r)
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			flushCJK()
			word = append(word, r)
		default:
			flushWord()
			flushCJK()
		}
	}
	flushWord()
	flushCJK()
	return out
}

func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	rs := []rune(s)
	return strings.TrimSpace(string(rs[:n-1])) + "…"
}
