package loopback

import (
	"io"
	"net/http"
	"net/url"
	"testing"
)

func TestServeOnTheNamedHost(t *testing.T) {
	srv := Serve(t, "127.0.0.2", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hi")
	}))
	u, err := url.Parse(srv.URL)
	if err != nil || u.Hostname() != "127.0.0.2" {
		t.Fatalf("URL %s (%v), want host 127.0.0.2", srv.URL, err)
	}
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if b, _ := io.ReadAll(resp.Body); string(b) != "hi" {
		t.Errorf("body %q, want hi", b)
	}
}
