package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestRetriesReadsNotWrites(t *testing.T) {
	var gets, posts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Key k1" {
			t.Errorf("auth header %q", r.Header.Get("Authorization"))
		}
		n := gets.Load()
		if r.Method == http.MethodGet {
			n = gets.Add(1)
		} else {
			posts.Add(1)
		}
		if r.Method == http.MethodPost || n < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("busy"))
			return
		}
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	defer srv.Close()
	c, err := New(Options{BaseURL: srv.URL, AuthHeader: "Authorization", AuthValue: "Key k1", Secret: "k1", Timeout: time.Second, ReadAttempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	var out struct{ OK bool }
	if err := c.Do(context.Background(), http.MethodGet, "/x", nil, nil, &out); err != nil || !out.OK || gets.Load() != 3 {
		t.Errorf("GET: err %v, ok %v after %d tries; want success on the third", err, out.OK, gets.Load())
	}
	err = c.Do(context.Background(), http.MethodPost, "/x", nil, map[string]int{"a": 1}, nil)
	if StatusOf(err) != 503 || posts.Load() != 1 || !strings.Contains(err.Error(), "POST /x: HTTP 503 Service Unavailable: busy") {
		t.Errorf("POST: %v after %d tries; want one try and the body in the error", err, posts.Load())
	}
}

func TestBadJSONAndRedaction(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/echo" {
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte("your key " + r.Header.Get("X-API-KEY") + " is not allowed"))
			return
		}
		_, _ = w.Write([]byte("<html>login</html>"))
	}))
	defer srv.Close()
	c, err := New(Options{BaseURL: srv.URL + "/", AuthHeader: "X-API-KEY", AuthValue: "topsecret", Secret: "topsecret", Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	err = c.Do(context.Background(), http.MethodGet, "/page", nil, nil, &out)
	if err == nil || !strings.Contains(err.Error(), "HTTP 200 but the body is not the expected JSON") {
		t.Errorf("HTML body: %v", err)
	}
	err = c.Do(context.Background(), http.MethodGet, "/echo", nil, nil, &out)
	if err == nil || strings.Contains(err.Error(), "topsecret") || !strings.Contains(err.Error(), "[redacted]") || StatusOf(err) != 403 {
		t.Errorf("echoed key: %v", err)
	}
}

func TestRateLimit(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("{}")) }))
	defer srv.Close()
	c, err := New(Options{BaseURL: srv.URL, AuthHeader: "X-API-KEY", AuthValue: "k", Timeout: time.Second, Rate: 50, Burst: 1})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for range 11 {
		if err := c.Do(context.Background(), http.MethodGet, "/", nil, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	// 11 requests at 50/s with a burst of 1 need at least 10 intervals of 20ms.
	if d := time.Since(start); d < 190*time.Millisecond {
		t.Errorf("11 requests at 50/s took %v, want at least 200ms", d)
	}
}

func TestOptionsChecked(t *testing.T) {
	for _, o := range []Options{
		{BaseURL: "ftp://x", Timeout: time.Second},
		{BaseURL: "http://", Timeout: time.Second},
		{BaseURL: "http://x", Timeout: 0},
		{BaseURL: "http://x", Timeout: time.Second, Rate: -1},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}
