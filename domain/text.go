package domain

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Console and API text is checked, not cleaned: a note, reply, assignee or
// channel name carrying NUL or another control character is refused with
// ErrInvalidField naming the field, so what a person sent is exactly what is
// stored and shown (Postgres text cannot hold U+0000 at all). Multi-line texts
// keep "\n" and "\t", and a "\r\n" or lone "\r" (what browsers and terminals
// send for a line break) becomes "\n"; single-line values refuse every control
// character. Provider deliveries are cleaned instead (adapters/providertext):
// a provider cannot be asked to resend.

// CleanText trims a multi-line console text (a note, a reply) and checks it:
// not blank, valid UTF-8, no control character but line breaks and tabs, at
// most maxRunes characters. field names the value in errors.
func CleanText(field, text string, maxRunes int) (string, error) {
	if !utf8.ValidString(text) {
		return "", Errorf(ErrInvalidField, "%s is not valid UTF-8", field)
	}
	t := strings.TrimSpace(strings.ReplaceAll(strings.ReplaceAll(text, "\r\n", "\n"), "\r", "\n"))
	if t == "" {
		return "", Errorf(ErrMissingField, "%s is required", field)
	}
	if err := refuseControl(field, t, "\n\t"); err != nil {
		return "", err
	}
	if n := utf8.RuneCountInString(t); n > maxRunes {
		return "", Errorf(ErrInvalidField, "%s is %d characters; the limit is %d", field, n, maxRunes)
	}
	return t, nil
}

// CleanLine trims a single-line console value and checks it: valid UTF-8, no
// control character at all, at most maxRunes characters. It may be empty.
func CleanLine(field, value string, maxRunes int) (string, error) {
	if !utf8.ValidString(value) {
		return "", Errorf(ErrInvalidField, "%s is not valid UTF-8", field)
	}
	v := strings.TrimSpace(value)
	if err := refuseControl(field, v, ""); err != nil {
		return "", err
	}
	if n := utf8.RuneCountInString(v); n > maxRunes {
		return "", Errorf(ErrInvalidField, "%s must be a single line of at most %d characters", field, maxRunes)
	}
	return v, nil
}

// HasControl tells whether s holds a control character (C0, DEL or C1).
func HasControl(s string) bool { return strings.IndexFunc(s, unicode.IsControl) >= 0 }

func refuseControl(field, s, allowed string) error {
	n := 0
	for _, r := range s {
		n++
		if unicode.IsControl(r) && !strings.ContainsRune(allowed, r) {
			what := "line breaks and tabs are the only control characters allowed"
			if allowed == "" {
				what = "it must be a single line without control characters"
			}
			return Errorf(ErrInvalidField, "%s contains the control character U+%04X at character %d; %s", field, r, n, what)
		}
	}
	return nil
}
