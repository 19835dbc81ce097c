package secrets

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestRedactForms(t *testing.T) {
	Register("tok/en+1&x")
	RegisterBasicAuth("alice", "pa ss")
	for in, want := range map[string]string{
		"Bearer tok/en+1&x!":                   "Bearer [redacted]!",
		`{"h":"Bearer tok\/en+1\u0026x"}`:      `{"h":"Bearer [redacted]"}`,
		`{"h":"Bearer tok/en+1\u0026x"}`:       `{"h":"Bearer [redacted]"}`,
		"?t=tok%2Fen%2B1%26x":                  "?t=[redacted]",
		"Basic YWxpY2U6cGEgc3M=":               "Basic [redacted]", // base64("alice:pa ss"), by hand with base64(1)
		"password pa ss and pa+ss and pa%20ss": "password [redacted] and [redacted] and [redacted]",
		"nothing secret here":                  "nothing secret here",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRegisterIgnoresEmpty(t *testing.T) {
	Register("")
	if got := Redact("abc"); got != "abc" {
		t.Fatalf("Redact after registering \"\" = %q", got)
	}
}

func TestUntrusted(t *testing.T) {
	Register("s3cr3t-value")
	got := Untrusted([]byte("line1\nline2\x1b[31m\u202e red s3cr3t-value \xff"))
	want := "line1 line2?[31m? red [redacted] ?"
	if got != want {
		t.Errorf("Untrusted = %q, want %q", got, want)
	}
	long := strings.Repeat("a", MaxText-5) + "s3cr3t-value" + strings.Repeat("b", 100)
	got = Untrusted([]byte(long))
	// The mask (10 bytes) starts at MaxText-5, so the text is cut after it:
	// MaxText-5+10 = MaxText+5 bytes kept, then 100 more bytes of b.
	want = strings.Repeat("a", MaxText-5) + Mask + "... (100 more bytes)"
	if got != want {
		t.Errorf("long Untrusted = %q, want %q", got, want)
	}
	if strings.Contains(got, "s3cr") {
		t.Error("a cut secret leaked its start")
	}
}

func TestURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://alice:PASSWORD@host:9090/api/v1/write": "http://alice:xxxxx@host:9090/api/v1/write",
		"http://alice:PA%zzSS@host/":                   "http://" + Mask + "@host/",
		"http://host/x":                                "http://host/x",
	} {
		if got := URL(in); got != want {
			t.Errorf("URL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCheckURL(t *testing.T) {
	_, err := CheckURL("http://alice:PASSWORD@host/api/v1/write", "--password-file")
	if !errors.Is(err, ErrUserinfo) || strings.Contains(err.Error(), "PASSWORD") || !strings.Contains(err.Error(), "--password-file") {
		t.Errorf("userinfo: err = %v", err)
	}
	_, err = CheckURL("http://alice:PA%zzSS@host/", "x")
	if err == nil || strings.Contains(err.Error(), "PA%zzSS") {
		t.Errorf("unparsable: err = %v", err)
	}
	if _, err := CheckURL("ftp://host/", "x"); err == nil {
		t.Error("ftp accepted")
	}
	if u, err := CheckURL("https://host:8443/p", "x"); err != nil || u.Host != "host:8443" {
		t.Errorf("good URL: %v, %v", u, err)
	}
}

func TestCheckRedirect(t *testing.T) {
	req := func(s string) *http.Request {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return &http.Request{URL: u}
	}
	for _, c := range []struct {
		from, to string
		ok       bool
	}{
		{"http://127.0.0.1:80/a", "http://127.0.0.1:80/b", true},
		{"http://host/a", "https://host/b", true},
		{"http://127.0.0.1:81/a", "http://127.0.0.2:81/b", false},
		{"http://127.0.0.1:81/a", "http://127.0.0.1:82/b", false},
		{"https://host/a", "http://host/b", false},
	} {
		err := CheckRedirect(req(c.to), []*http.Request{req(c.from)})
		var re *RedirectError
		if c.ok != (err == nil) || (!c.ok && !errors.As(err, &re)) {
			t.Errorf("%s -> %s: err = %v", c.from, c.to, err)
		}
		if err != nil && strings.Contains(err.Error(), "/b") {
			t.Errorf("error quotes the path: %v", err)
		}
	}
}
