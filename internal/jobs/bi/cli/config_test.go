package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/beametrics/beametrics/internal/testing/bifake"
)

// runWithEnv runs Main with exactly the given environment.
func runWithEnv(t *testing.T, env map[string]string, args ...string) run {
	t.Helper()
	var out, errs bytes.Buffer
	code := Main(context.Background(), args, Env{Stdout: &out, Stderr: &errs, Getenv: func(k string) string { return env[k] }})
	return run{code, out.String(), errs.String()}
}

func writeProfile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func TestProfile(t *testing.T) {
	srv, _ := seeded(t, bifake.NewRedash(testKey), 3, 0)
	home := t.TempDir()
	def := filepath.Join(home, ".config", "beametrics", "bi.json")
	content := `{"provider":"redash","url":"` + srv.URL() + `","api_key":"` + testKey + `"}`

	writeProfile(t, def, content, 0o600)
	r := runWithEnv(t, map[string]string{"HOME": home}, "query", "list")
	if r.code != 0 || r.stdout != "1\n2\n3\n" {
		t.Fatalf("default profile: exit %d %q %s", r.code, r.stdout, r.stderr)
	}

	writeProfile(t, def, content, 0o644)
	r = runWithEnv(t, map[string]string{"HOME": home}, "query", "list")
	if r.code != 2 || !strings.Contains(r.stderr, "has mode 0644") || !strings.Contains(r.stderr, "chmod 600") {
		t.Errorf("world-readable profile: exit %d %s", r.code, r.stderr)
	}
	writeProfile(t, def, content, 0o640)
	if r = runWithEnv(t, map[string]string{"HOME": home}, "query", "list"); r.code != 2 {
		t.Errorf("group-readable profile accepted: exit %d", r.code)
	}

	// Environment beats the profile; here it points at a server with
	// another key, so the profile's key is refused there.
	other := filepath.Join(t.TempDir(), "p.json")
	writeProfile(t, other, `{"provider":"redash","url":"`+srv.URL()+`","api_key":"wrong-key"}`, 0o600)
	r = runWithEnv(t, map[string]string{"BEAMETRICS_BI_API_KEY": testKey}, "query", "list", "--profile", other)
	if r.code != 0 {
		t.Errorf("env key over profile key: exit %d %s", r.code, r.stderr)
	}
	r = runWithEnv(t, nil, "query", "list", "--profile", other)
	if r.code != 1 || !strings.Contains(r.stderr, "HTTP 404") || !strings.Contains(r.stderr, "Please login") || strings.Contains(r.stderr, "wrong-key") {
		t.Errorf("wrong key: exit %d %s", r.code, r.stderr)
	}

	writeProfile(t, other, `{"provider":"redash","url":"x","apikey":"`+testKey+`"}`, 0o600)
	r = runWithEnv(t, nil, "query", "list", "--profile", other)
	if r.code != 2 || !strings.Contains(r.stderr, "not a valid profile") || strings.Contains(r.stderr, testKey) {
		t.Errorf("misspelt profile field: exit %d %s", r.code, r.stderr)
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	env := map[string]string{"BEAMETRICS_BI_PROVIDER": "redash", "BEAMETRICS_BI_URL": "http://127.0.0.1:9", "BEAMETRICS_BI_API_KEY": testKey}
	cases := []struct {
		name     string
		env      map[string]string
		args     []string
		contains string
	}{
		{"unknown command", env, []string{"queries"}, "unknown command"},
		{"no command", env, nil, "missing command"},
		{"no selection", env, []string{"query", "update", "--query", "x"}, "no queries selected"},
		{"ids and regexp", env, []string{"query", "update", "1", "--query-regexp", "x", "--query", "y"}, "not both"},
		{"nothing to change", env, []string{"query", "update", "1"}, "nothing to change"},
		{"bad id", env, []string{"query", "update", "x1", "--query", "y"}, `"x1" is not a query id`},
		{"replace needs two", env, []string{"query", "update", "1", "--query-replace", "a"}, "needs two arguments"},
		{"replace with =", env, []string{"query", "update", "1", "--query-replace=a", "b"}, "takes two arguments"},
		{"bad regexp", env, []string{"query", "update", "1", "--regexp-replace", "(", "x"}, "bad regexp"},
		{"bad select regexp", env, []string{"query", "list", "--query-regexp", "("}, "bad regexp"},
		{"whole and replace", env, []string{"query", "update", "1", "--query", "x", "--query-replace", "a", "b"}, "cannot be combined"},
		{"bad format", env, []string{"query", "list", "--format", "csv"}, "want ids, table or jsonl"},
		{"unknown flag", env, []string{"query", "list", "--nope"}, "flag provided but not defined"},
		{"no provider", map[string]string{}, []string{"query", "list"}, "no BI provider given"},
		{"bad provider", map[string]string{"BEAMETRICS_BI_PROVIDER": "looker"}, []string{"query", "list"}, `unknown provider "looker"`},
		{"no url", map[string]string{"BEAMETRICS_BI_PROVIDER": "redash"}, []string{"query", "list"}, "no server URL"},
		{"no key", map[string]string{"BEAMETRICS_BI_PROVIDER": "redash", "BEAMETRICS_BI_URL": "http://x"}, []string{"query", "list"}, "no API key"},
		{"bad url", map[string]string{"BEAMETRICS_BI_PROVIDER": "redash", "BEAMETRICS_BI_URL": "x", "BEAMETRICS_BI_API_KEY": "k-for-bad-url"}, []string{"query", "list"}, "bad server URL"},
		{"bad concurrency", env, []string{"query", "list", "--concurrency", "0"}, "--concurrency must be at least 1"},
		{"negative rate", env, []string{"query", "list", "--rate", "-1"}, "--rate must be 0 (no limit) or positive"},
		{"rate not a number", env, []string{"query", "list", "--rate", "NaN"}, `invalid value "NaN" for flag -rate: not a number`},
		{"restore args", env, []string{"restore"}, "restore takes one argument"},
		{"restore missing", env, []string{"restore", "/nonexistent/backup.jsonl"}, "opening backup"},
	}
	for _, c := range cases {
		r := runWithEnv(t, c.env, c.args...)
		if r.code != 2 || !strings.Contains(r.stderr, c.contains) {
			t.Errorf("%s: exit %d, stderr %q; want 2 and %q", c.name, r.code, r.stderr, c.contains)
		}
	}
	if r := runWithEnv(t, env, "query", "list", "-h"); r.code != 0 || !strings.Contains(r.stderr, "-query-regexp") {
		t.Errorf("-h: exit %d %s", r.code, r.stderr)
	}
}

func TestKeyNeverPrinted(t *testing.T) {
	srv, _ := seeded(t, bifake.NewRedash(testKey), 8, 0)
	// A misbehaving server that echoes the key in its error bodies.
	srv.SetFault(func(method, path string, id int) *bifake.Fault {
		if id == 4 {
			return &bifake.Fault{Status: 500, Body: "bad key Key " + testKey + " rejected"}
		}
		return nil
	})
	dir := t.TempDir()
	r := runBI(t, context.Background(), "redash", srv.URL(), "query", "update", "--apply", "--backup-dir", dir,
		"--query-regexp", "sessions", "--query-replace", "sessions", "sessions_v2")
	if r.code != 1 || !strings.Contains(r.stdout, "bad key Key [redacted] rejected") {
		t.Errorf("exit %d; want the echoed key redacted:\n%s", r.code, r.stdout)
	}
	noKeyInFiles(t, dir)
	// runBI() itself fails the test if the key appears in stdout or stderr.
	runBI(t, context.Background(), "redash", srv.URL(), "query", "list", "-h")
	runBI(t, context.Background(), "redash", srv.URL(), "query", "update", "4", "--query", "x")
}

func TestRestoreRefusesOtherServer(t *testing.T) {
	srv, _ := seeded(t, bifake.NewRedash(testKey), 8, 0)
	dir := t.TempDir()
	r := runBI(t, context.Background(), "redash", srv.URL(), "query", "update", "4", "--query", "SELECT 1", "--apply", "--backup-dir", dir)
	if r.code != 0 {
		t.Fatalf("exit %d %s", r.code, r.stderr)
	}
	rr := runBI(t, context.Background(), "redash", "http://other.example:3000", "restore", backupPath(t, r.stdout))
	if rr.code != 2 || !strings.Contains(rr.stderr, "the backup was made against "+srv.URL()) {
		t.Errorf("restore against another server: exit %d %s", rr.code, rr.stderr)
	}
	// A torn backup is refused with its line number, not guessed at.
	path := backupPath(t, r.stdout)
	b, _ := os.ReadFile(path)
	if err := os.WriteFile(path, append(b, []byte(`{"type":"change","id":`)...), 0o600); err != nil {
		t.Fatal(err)
	}
	rr = runBI(t, context.Background(), "redash", srv.URL(), "restore", path)
	if rr.code != 2 || !strings.Contains(rr.stderr, "line 4") {
		t.Errorf("torn backup: exit %d %s", rr.code, rr.stderr)
	}
}
