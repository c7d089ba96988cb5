package console

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestLanguageFromCookieThenAcceptLanguage(t *testing.T) {
	for _, c := range []struct{ cookie, accept, want string }{
		{"", "zh-CN,zh;q=0.9,en;q=0.8", "zh"},
		{"", "en-US,en;q=0.9", "en"},
		{"", "fr-FR, zh-TW;q=0.5", "zh"},
		{"", "", "en"},
		{"", "de", "en"},
		{"en", "zh-CN", "en"},
		{"zh", "en", "zh"},
		{"xx", "zh", "zh"},
	} {
		r, _ := http.NewRequest("GET", "/console/", nil)
		r.Header.Set("Accept-Language", c.accept)
		if c.cookie != "" {
			r.AddCookie(&http.Cookie{Name: "socialops_lang", Value: c.cookie})
		}
		if got := language(r); got != c.want {
			t.Errorf("cookie %q, Accept-Language %q: got %q, want %q", c.cookie, c.accept, got, c.want)
		}
	}
}

// FuzzLanguage: any Accept-Language header yields one of the two languages.
func FuzzLanguage(f *testing.F) {
	for _, s := range []string{"zh-CN,zh;q=0.9", "en", "", ";;,,", "zh;q=abc", strings.Repeat("x,", 100)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, accept string) {
		r, _ := http.NewRequest("GET", "/console/", nil)
		r.Header["Accept-Language"] = []string{accept}
		if got := language(r); got != "zh" && got != "en" {
			t.Fatalf("%q gave %q", accept, got)
		}
	})
}

func TestLinksAreSignedForTheConsoleOnly(t *testing.T) {
	secret := []byte("console-unit-test-secret-0123456789")
	now := time.Now()
	for _, base := range []string{"", "ftp://x", "127.0.0.1:8080", "http://"} {
		if _, err := MintLink(secret, base, "u", []string{"service:read"}, now); err == nil {
			t.Errorf("base %q accepted", base)
		}
	}
	if _, err := MintLink(nil, "http://x", "u", nil, now); err == nil {
		t.Error("a link without a secret")
	}
	link, err := MintLink(secret, "https://inbox.example.com/", "u", []string{"service:read"}, now)
	if err != nil || !strings.HasPrefix(link, "https://inbox.example.com/console/signin?link=") {
		t.Fatalf("link %q, %v", link, err)
	}
	raw := strings.TrimPrefix(link, "https://inbox.example.com/console/signin?link=")
	c, err := verifyLink(secret, raw, now.Add(LinkTTL-time.Second))
	if err != nil || c.Subject != "u" || c.ID == "" {
		t.Fatalf("claims %+v, %v", c, err)
	}
	if _, err := verifyLink(secret, raw, now.Add(LinkTTL+time.Minute)); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("an expired link: %v", err)
	}
	if _, err := verifyLink([]byte("another-secret-0123456789-abcdefgh"), raw, now); err == nil {
		t.Error("a link of another secret")
	}
}
