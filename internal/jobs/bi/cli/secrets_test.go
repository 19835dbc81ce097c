package cli

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/beametrics/beametrics/internal/jobs/bi"
	"github.com/beametrics/beametrics/internal/testing/bifake"
)

// TestRegexpReplaceNamingAMissingGroupIsRefused: "$1_v2" names the group
// "1_v2"; regexp would expand it to nothing in every query.
func TestRegexpReplaceNamingAMissingGroupIsRefused(t *testing.T) {
	srv := bifake.NewRedash(testKey)
	defer srv.Close()
	srv.Seed(bifake.Generate(8, 0))
	r := runBI(t, context.Background(), "redash", srv.URL(), "query", "update", "--query-regexp", "events",
		"--regexp-replace", `analytics\.(events)_v1`, "analytics.$1_v2")
	if r.code != ExitUsage || !strings.Contains(r.stderr, `names group "1_v2"`) || !strings.Contains(r.stderr, "${1}_v2") {
		t.Errorf("exit %d, stderr %q; want exit %d suggesting ${1}_v2", r.code, r.stderr, ExitUsage)
	}
	if reads, writes := srv.Requests(); reads+writes != 0 {
		t.Errorf("%d requests made before the replacement was refused", reads+writes)
	}
	r = runBI(t, context.Background(), "redash", srv.URL(), "query", "update", "--query-regexp", "events",
		"--regexp-replace", `analytics\.(events)_v1`, "analytics.${1}_v2")
	if r.code != ExitOK || !strings.Contains(r.stdout, "+FROM analytics.events_v2 AS e") {
		t.Errorf("${1}_v2: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

// TestServerGoneStopsWrites: when every write's connection is cut, the run
// stops after bi.MaxUnreachable failures in a row instead of trying every
// query, and says how to undo and what to do next.
func TestServerGoneStopsWrites(t *testing.T) {
	srv := bifake.NewRedash(testKey)
	defer srv.Close()
	srv.Seed(bifake.Generate(150, 0))
	srv.SetFault(func(method, path string, id int) *bifake.Fault {
		if method == http.MethodPost {
			return &bifake.Fault{Drop: true}
		}
		return nil
	})
	r := runBI(t, context.Background(), "redash", srv.URL(), "query", "update", "--apply", "--yes", "--backup-dir", t.TempDir(),
		"--query-regexp", "events", "--query-replace", "events_v1", "events_v2")
	if r.code != ExitSomeFailed {
		t.Fatalf("exit %d, want %d\n%s\n%s", r.code, ExitSomeFailed, r.stdout, r.stderr)
	}
	_, writes := srv.Requests()
	// The 5th failure stops new writes; those already handed to the 8
	// workers still go out.
	if writes < bi.MaxUnreachable || writes > bi.MaxUnreachable+2*DefaultConcurrency {
		t.Errorf("%d writes tried, want %d to %d", writes, bi.MaxUnreachable, bi.MaxUnreachable+2*DefaultConcurrency)
	}
	for _, want := range []string{
		"stopped after 5 writes in a row could not reach the server: ",
		"to undo this whole run: beametrics bi restore ",
		"not attempted: the run stopped after 5 writes in a row",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.stdout, "summary: 0 changed, "+strconv.Itoa(int(writes))+" failed, "+strconv.Itoa(150-int(writes))+" not attempted") {
		t.Errorf("summary does not add up to 150 with %d writes:\n%s", writes, r.stdout)
	}
}

// TestEchoedKeyIsMaskedEverywhere: a server quoting the API key in its
// error bodies gets it into neither the output nor the backup.
func TestEchoedKeyIsMaskedEverywhere(t *testing.T) {
	srv := bifake.NewRedash(testKey)
	defer srv.Close()
	srv.Seed(bifake.Generate(8, 0))
	srv.SetFault(func(method, path string, id int) *bifake.Fault {
		if method == http.MethodPost && id == 4 {
			return &bifake.Fault{Status: 400, Body: "bad request with Authorization: Key " + testKey + "\nsecond line"}
		}
		return nil
	})
	dir := t.TempDir()
	r := runBI(t, context.Background(), "redash", srv.URL(), "query", "update", "--apply", "--backup-dir", dir,
		"--query-regexp", "events", "--query-replace", "events_v1", "events_v2")
	if r.code != ExitSomeFailed || !strings.Contains(r.stdout, `Authorization: Key [redacted]`) {
		t.Errorf("exit %d; want the failure with the key masked:\n%s", r.code, r.stdout)
	}
	noKeyInFiles(t, dir) // runBI checked stdout and stderr
}

// keyLog records requests that carried an API key.
type keyLog struct {
	mu   sync.Mutex
	keys []string
}

func (k *keyLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	if v := r.Header.Get("X-Api-Key") + r.Header.Get("Authorization"); v != "" {
		k.keys = append(k.keys, v)
	}
	k.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte("[]"))
}

func serveOn(t *testing.T, host string, h http.Handler) *httptest.Server {
	t.Helper()
	l, err := net.Listen("tcp", host+":0")
	if err != nil {
		t.Skipf("cannot listen on %s (needs the 127.0.0.0/8 loopback range): %v", host, err)
	}
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: h}}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// TestAPIKeyNeverFollowsARedirectToAnotherHost: a server on 127.0.0.1
// redirecting to 127.0.0.2 (another host) gets neither provider's key
// delivered there; the redirect is named and not followed.
func TestAPIKeyNeverFollowsARedirectToAnotherHost(t *testing.T) {
	for _, provider := range []string{"metabase", "redash"} {
		t.Run(provider, func(t *testing.T) {
			other := &keyLog{}
			second := serveOn(t, "127.0.0.2", other)
			first := serveOn(t, "127.0.0.1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, second.URL+r.URL.RequestURI(), http.StatusFound)
			}))
			r := runBI(t, context.Background(), provider, first.URL, "query", "list", "--query-regexp", "x")
			if r.code == ExitOK || !strings.Contains(r.stderr, "to "+second.URL+": not followed") {
				t.Errorf("exit %d, stderr %q; want a failure naming the refused redirect", r.code, r.stderr)
			}
			other.mu.Lock()
			defer other.mu.Unlock()
			if len(other.keys) > 0 {
				t.Errorf("the other host received the key %d times", len(other.keys))
			}
		})
	}
}

// TestPasswordInURLIsRefused: user:password@ in the server URL is refused
// without printing the password.
func TestPasswordInURLIsRefused(t *testing.T) {
	r := runBI(t, context.Background(), "metabase", "http://admin:PW-in-bi-url-5@127.0.0.1:9/", "query", "list", "--query-regexp", "x")
	if r.code != ExitUsage || strings.Contains(r.stderr+r.stdout, "PW-in-bi-url-5") || !strings.Contains(r.stderr, "credentials in the URL are refused") {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
}
