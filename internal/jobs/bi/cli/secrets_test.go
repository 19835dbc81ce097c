package cli

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/beametrics/beametrics/internal/jobs/bi"
	"github.com/beametrics/beametrics/internal/testing/bifake"
	"github.com/beametrics/beametrics/internal/testing/childtest"
	"github.com/beametrics/beametrics/internal/testing/loopback"
	"github.com/beametrics/beametrics/internal/testing/textcheck"
)

// TestRegexpReplaceNamingAMissingGroupIsRefused: "$1_v2" names the group
// "1_v2"; regexp would expand it to nothing in every query.
func TestRegexpReplaceNamingAMissingGroupIsRefused(t *testing.T) {
	srv, _ := seeded(t, bifake.NewRedash(testKey), 8, 0)
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
	srv, _ := seeded(t, bifake.NewRedash(testKey), 150, 0)
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
	textcheck.Contains(t, "output", r.stdout,
		"stopped after 5 writes in a row could not reach the server: ",
		"to undo this whole run: beametrics bi restore ",
		"not attempted: the run stopped after 5 writes in a row",
	)
	if !strings.Contains(r.stdout, "summary: 0 changed, "+strconv.Itoa(int(writes))+" failed, "+strconv.Itoa(150-int(writes))+" not attempted") {
		t.Errorf("summary does not add up to 150 with %d writes:\n%s", writes, r.stdout)
	}
}

// TestServerGoneStopsReads: queries given by id are read one request each
// (three tries); when none of the reads reaches the server, the command
// stops after bi.MaxUnreachable of them in a row instead of trying every
// id, writes nothing and says to run it again later.
// The same holds for restore, which reads every query of the backup first.
func TestServerGoneStopsReads(t *testing.T) {
	srv, _ := seeded(t, bifake.NewRedash(testKey), 150, 0)
	ids := make([]string, 150)
	for i := range ids {
		ids[i] = strconv.Itoa(i + 1)
	}
	dir := t.TempDir()
	update := append([]string{"query", "update", "--apply", "--yes", "--backup-dir", dir, "--query-replace", "events_v1", "events_v2"}, ids...)
	done := runBI(t, context.Background(), "redash", srv.URL(), update...)
	if done.code != ExitOK {
		t.Fatalf("the first run: exit %d\n%s", done.code, done.stderr)
	}
	backup := backupPath(t, done.stdout)
	// From now on the server cuts every connection of a query's request.
	srv.SetFault(func(method, path string, id int) *bifake.Fault {
		if id != 0 {
			return &bifake.Fault{Drop: true}
		}
		return nil
	})
	update = append([]string{"query", "update", "--apply", "--yes", "--backup-dir", dir, "--query-replace", "events_v2", "events_v3"}, ids...)
	for name, args := range map[string][]string{
		"update":  update,
		"restore": {"restore", backup, "--apply", "--yes", "--backup-dir", dir},
	} {
		readsBefore, writesBefore := srv.Requests()
		r := runBI(t, context.Background(), "redash", srv.URL(), args...)
		if r.code != ExitSomeFailed {
			t.Fatalf("%s: exit %d, want %d\n%s\n%s", name, r.code, ExitSomeFailed, r.stdout, r.stderr)
		}
		reads, writes := srv.Requests()
		// Each read is tried 3 times; the 5th failure in a row stops new
		// reads, those already started by the 8 workers finish.
		if max := int64(3 * (bi.MaxUnreachable + DefaultConcurrency)); reads-readsBefore > max || writes != writesBefore {
			t.Errorf("%s: %d reads and %d writes, want at most %d reads and no write", name, reads-readsBefore, writes-writesBefore, max)
		}
		want := "beametrics bi: stopped after 5 reads in a row could not reach the server; nothing was written: run the same command again when the server is back"
		if !strings.Contains(r.stderr, want) {
			t.Errorf("%s: stderr lacks %q:\n%s", name, want, r.stderr)
		}
		if strings.Contains(r.stdout, "backup: ") {
			t.Errorf("%s: a backup for a run that wrote nothing:\n%s", name, r.stdout)
		}
	}
}

// TestEchoedKeyIsMaskedEverywhere: a server quoting the API key in its
// error bodies gets it into neither the output nor the backup.
func TestEchoedKeyIsMaskedEverywhere(t *testing.T) {
	srv, _ := seeded(t, bifake.NewRedash(testKey), 8, 0)
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

// TestAPIKeyNeverFollowsARedirectToAnotherHost: a server on 127.0.0.1
// redirecting to 127.0.0.2 (another host) gets neither provider's key
// delivered there; the redirect is named and not followed.
func TestAPIKeyNeverFollowsARedirectToAnotherHost(t *testing.T) {
	for _, provider := range []string{"metabase", "redash"} {
		t.Run(provider, func(t *testing.T) {
			other := &keyLog{}
			second := loopback.Serve(t, "127.0.0.2", other)
			first := loopback.Serve(t, "127.0.0.1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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

// downgradeChildEnv holds the provider and the https URL the child lists
// queries from, separated by a space.
const downgradeChildEnv = "BEAMETRICS_BI_DOWNGRADE_CHILD"

// TestAPIKeyNeverFollowsADowngradeToHTTP: a server at https://127.0.0.1:P
// redirecting to http://127.0.0.1:P (same host and port: one listener
// speaks both) must not get either provider's key in plain text. The child
// process trusts the test certificate through SSL_CERT_FILE, the way a user
// trusts an internal CA.
func TestAPIKeyNeverFollowsADowngradeToHTTP(t *testing.T) {
	if v := os.Getenv(downgradeChildEnv); v != "" {
		provider, url, _ := strings.Cut(v, " ")
		env := map[string]string{"BEAMETRICS_BI_PROVIDER": provider, "BEAMETRICS_BI_URL": url, "BEAMETRICS_BI_API_KEY": testKey, "HOME": "/nonexistent-home"}
		os.Exit(Main(context.Background(), []string{"query", "list", "--query-regexp", "x"},
			Env{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: func(k string) string { return env[k] }}))
	}
	// A throwaway TLS server lends its certificate (for 127.0.0.1).
	tmp := httptest.NewTLSServer(http.NotFoundHandler())
	tlsConfig, cert := tmp.TLS, tmp.Certificate()
	tmp.Close()
	certFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, provider := range []string{"metabase", "redash"} {
		t.Run(provider, func(t *testing.T) {
			plain := &keyLog{}
			var tlsRequests atomic.Int32
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.TLS == nil {
					plain.ServeHTTP(w, r)
					return
				}
				tlsRequests.Add(1)
				http.Redirect(w, r, "http://"+r.Host+r.URL.RequestURI(), http.StatusFound)
			})}
			go srv.Serve(bothProtocols{l, tlsConfig})
			t.Cleanup(func() { srv.Close() })
			addr := l.Addr().String()

			cmd := childtest.Command("TestAPIKeyNeverFollowsADowngradeToHTTP", downgradeChildEnv+"="+provider+" https://"+addr, "SSL_CERT_FILE="+certFile)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err = cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != ExitSomeFailed {
				t.Errorf("child: %v, want exit %d", err, ExitSomeFailed)
			}
			if tlsRequests.Load() == 0 {
				t.Fatalf("no request reached the https side (is the certificate trusted?):\n%s", stderr.String())
			}
			if want := "redirected from https://" + addr + " to http://" + addr + ": not followed"; !strings.Contains(stderr.String(), want) {
				t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
			}
			if strings.Contains(stdout.String()+stderr.String(), testKey) {
				t.Error("the key is in the output")
			}
			plain.mu.Lock()
			defer plain.mu.Unlock()
			if len(plain.keys) > 0 {
				t.Errorf("the key went out in plain text %d times", len(plain.keys))
			}
		})
	}
}

// bothProtocols serves TLS and plain HTTP on one port: a connection whose
// first byte is a TLS handshake record (0x16) is TLS.
type bothProtocols struct {
	net.Listener
	tls *tls.Config
}

func (b bothProtocols) Accept() (net.Conn, error) {
	c, err := b.Listener.Accept()
	if err != nil {
		return nil, err
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(c)
	first, err := r.Peek(1)
	_ = c.SetReadDeadline(time.Time{})
	pc := peekedConn{c, r}
	if err == nil && first[0] == 0x16 {
		return tls.Server(pc, b.tls), nil
	}
	return pc, nil
}

// peekedConn reads through the reader that peeked at its first byte.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (p peekedConn) Read(b []byte) (int, error) { return p.r.Read(b) }
