package promremote

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beametrics/beametrics/exporters"
	"github.com/beametrics/beametrics/internal/metricdata"
	"github.com/beametrics/beametrics/internal/testing/loopback"
)

// echoAuth answers every request with status and a body quoting the
// request's Authorization header, as a careless receiver might.
func echoAuth(status int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		fmt.Fprintf(w, "bad request from %q\nwith Authorization: %s\n", r.UserAgent(), r.Header.Get("Authorization"))
	})
}

func writeSecretFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestEchoedCredentialsAreMasked: a receiver that quotes the request's
// Authorization header in its error body must not get the secret into the
// log, the failure reasons (which become dead letters) or the error text.
func TestEchoedCredentialsAreMasked(t *testing.T) {
	const token = "tok-Echo-7f3a9c"
	const password = "pw-Echo-51d0e2"
	cases := []struct {
		name    string
		set     func(s *exporters.RemoteWriteSettings)
		secrets []string // what must never appear
	}{
		{"bearer", func(s *exporters.RemoteWriteSettings) {
			s.BearerTokenFile = writeSecretFile(t, "token", token)
		}, []string{token}},
		{"basic", func(s *exporters.RemoteWriteSettings) {
			s.BasicAuth = &exporters.BasicAuth{Username: "alice", PasswordFile: writeSecretFile(t, "pw", password)}
		}, []string{password, base64.StdEncoding.EncodeToString([]byte("alice:" + password))}},
	}
	for _, c := range cases {
		for _, status := range []int{400, 503} { // 503 is retried: the client logs each retry
			t.Run(fmt.Sprintf("%s/%d", c.name, status), func(t *testing.T) {
				srv := httptest.NewServer(echoAuth(status))
				defer srv.Close()
				s := exporters.RemoteWriteSettings{URL: srv.URL, MaxRetries: 1}
				c.set(&s)
				var logs bytes.Buffer
				e, err := New(s, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil)), BackoffMin: time.Millisecond, BackoffMax: time.Millisecond})
				if err != nil {
					t.Fatal(err)
				}
				e.Start(context.Background(), testMetrics)
				err = e.Export(context.Background(), windowPoints(time.Unix(0, 0), time.Unix(60, 0), time.Unix(120, 0)))
				var ee *exporters.ExportError
				if !errors.As(err, &ee) || len(ee.Failed) == 0 {
					t.Fatalf("want failed points, got %v", err)
				}
				var out strings.Builder
				out.WriteString(logs.String())
				out.WriteString(err.Error())
				for _, f := range ee.Failed {
					out.WriteString(f.Reason)
					if want := fmt.Sprintf("HTTP_%d", status); f.Code != want {
						t.Errorf("code %s, want %s", f.Code, want)
					}
				}
				all := out.String()
				for _, sec := range c.secrets {
					if strings.Contains(all, sec) {
						t.Errorf("secret %q leaked:\n%s", sec, all)
					}
				}
				// The receiver did echo the header: the mask shows where.
				if !strings.Contains(ee.Failed[0].Reason, "Authorization: "+map[string]string{"bearer": "Bearer", "basic": "Basic"}[c.name]+" [redacted]") {
					t.Errorf("reason does not show the masked header: %q", ee.Failed[0].Reason)
				}
				if strings.Contains(ee.Failed[0].Reason, "\n") {
					t.Errorf("reason keeps the body's line breaks (forged log lines): %q", ee.Failed[0].Reason)
				}
			})
		}
	}
}

// TestLongErrorBodyIsCut: a receiver answering with 1 MiB of text gets a
// short reason.
func TestLongErrorBodyIsCut(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(400)
		w.Write(bytes.Repeat([]byte("x"), 1<<20))
	}))
	defer srv.Close()
	e, err := New(exporters.RemoteWriteSettings{URL: srv.URL}, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	e.Start(context.Background(), testMetrics)
	err = e.Export(context.Background(), windowPoints(time.Unix(0, 0), time.Unix(60, 0), time.Unix(120, 0))[:1])
	var ee *exporters.ExportError
	if !errors.As(err, &ee) {
		t.Fatal(err)
	}
	// The read is bounded at 64 KiB, of which 512 bytes are kept.
	r := ee.Failed[0].Reason
	if len(r) > 700 || !strings.Contains(r, fmt.Sprintf("... (%d more bytes)", 64<<10-512)) {
		t.Errorf("reason of %d bytes: %.200q...", len(r), r)
	}
}

// headerLog records the credential headers each request brought.
type headerLog struct {
	mu   sync.Mutex
	seen []http.Header
}

func (h *headerLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.seen = append(h.seen, r.Header.Clone())
	h.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// TestCredentialsNeverFollowARedirectToAnotherHost: a receiver on
// 127.0.0.1 redirecting to 127.0.0.2 (another host to net/http) must not
// deliver the token, the tenant or the data there.
func TestCredentialsNeverFollowARedirectToAnotherHost(t *testing.T) {
	const token = "tok-Redirect-0c4e"
	other := &headerLog{}
	second := loopback.Serve(t, "127.0.0.2", other)
	first := loopback.Serve(t, "127.0.0.1", http.RedirectHandler(second.URL+"/api/v1/write", http.StatusTemporaryRedirect))
	e, err := New(exporters.RemoteWriteSettings{URL: first.URL + "/api/v1/write", BearerTokenFile: writeSecretFile(t, "tok", token), TenantHeader: "team-a", MaxRetries: 1},
		Options{Logger: slog.New(slog.DiscardHandler), BackoffMin: time.Millisecond, BackoffMax: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	e.Start(context.Background(), testMetrics)
	err = e.Export(context.Background(), windowPoints(time.Unix(0, 0), time.Unix(60, 0), time.Unix(120, 0))[:1])
	var ee *exporters.ExportError
	if !errors.As(err, &ee) || len(ee.Failed) != 1 || !strings.Contains(ee.Failed[0].Reason, "not followed") {
		t.Fatalf("want the point failed with the redirect named, got %v", err)
	}
	other.mu.Lock()
	defer other.mu.Unlock()
	if len(other.seen) != 0 {
		t.Errorf("the other host got %d requests, first with headers %v", len(other.seen), other.seen[0])
	}

	// Within the same origin a redirect is followed, with the credentials.
	same := &headerLog{}
	mux := http.NewServeMux()
	mux.Handle("/new", same)
	mux.Handle("/old", http.RedirectHandler("/new", http.StatusPermanentRedirect))
	srv := loopback.Serve(t, "127.0.0.1", mux)
	e, err = New(exporters.RemoteWriteSettings{URL: srv.URL + "/old", BearerTokenFile: writeSecretFile(t, "tok", token)}, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	e.Start(context.Background(), testMetrics)
	if err := e.Export(context.Background(), windowPoints(time.Unix(0, 0), time.Unix(60, 0), time.Unix(120, 0))[:1]); err != nil {
		t.Fatal(err)
	}
	same.mu.Lock()
	defer same.mu.Unlock()
	if len(same.seen) != 1 || same.seen[0].Get("Authorization") != "Bearer "+token {
		t.Errorf("same-origin redirect: got %v", same.seen)
	}
}

// TestPasswordInURLIsRefused: user:password@ in the URL is refused, by
// New and by Validate, naming the flags to use and not the password.
func TestPasswordInURLIsRefused(t *testing.T) {
	const raw = "http://alice:PW-in-url-93@127.0.0.1:9/api/v1/write"
	_, err := New(exporters.RemoteWriteSettings{URL: raw}, Options{})
	if err == nil || strings.Contains(err.Error(), "PW-in-url-93") || !strings.Contains(err.Error(), "--prometheus-remote-write-password-file") {
		t.Errorf("New: %v", err)
	}
	s := exporters.Settings{RemoteWrite: exporters.RemoteWriteSettings{URL: raw}}
	err = s.Validate([]metricdata.Descriptor{{Name: "a", ValueType: metricdata.Int64, Kind: metricdata.Gauge, Aggregation: "count", ExportType: exporters.TypeRemoteWrite, Window: time.Minute}})
	if err == nil || strings.Contains(err.Error(), "PW-in-url-93") || !strings.Contains(err.Error(), "--prometheus-remote-write-password-file") {
		t.Errorf("Validate: %v", err)
	}
}
