package cli

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/beametrics/beametrics/internal/testing/bifake"
)

func TestListByRegexpOver20000(t *testing.T) {
	srv, seed := seeded(t, bifake.NewRedash(testKey), 20000, 10)
	var want []string
	for _, q := range seed {
		if !q.Archived && strings.Contains(q.SQL, "analytics.sessions") && q.DataSourceID == 1 {
			want = append(want, fmt.Sprint(q.ID))
		}
	}
	r := runBI(t, context.Background(), "redash", srv.URL(), "query", "list", "--rate", "0",
		"--query-regexp", `analytics\.sessions`, "--data-source", "warehouse")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	got := strings.Fields(r.stdout)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("got %d ids, want %d (first got %v)", len(got), len(want), got[:min(5, len(got))])
	}
	reads, writes := srv.Requests()
	// 18,000 live queries in pages of 250, plus one data source lookup.
	if reads != 72+1 || writes != 0 {
		t.Errorf("requests: %d reads, %d writes; want 73 reads, 0 writes", reads, writes)
	}
}

func TestListFormats(t *testing.T) {
	srv, _ := seeded(t, bifake.NewRedash(testKey), 12, 10)
	for _, format := range []string{"table", "jsonl"} {
		r := runBI(t, context.Background(), "redash", srv.URL(), "query", "list", "--format", format,
			"--query-regexp", `sessions`, "--tag", "daily")
		if r.code != 0 {
			t.Fatalf("%s: exit %d: %s", format, r.code, r.stderr)
		}
		checkGolden(t, "list_"+format+".golden", r.stdout)
	}
	r := runBI(t, context.Background(), "redash", srv.URL(), "query", "list", "--archived", "--name-regexp", "^Signups")
	if r.code != 0 || r.stdout != "10\n" {
		t.Errorf("archived Signups: exit %d, %q; want query 10", r.code, r.stdout)
	}
}

func TestListTerminalProgress(t *testing.T) {
	srv, _ := seeded(t, bifake.NewRedash(testKey), 600, 0)
	var out, errs strings.Builder
	env := map[string]string{"BEAMETRICS_BI_PROVIDER": "redash", "BEAMETRICS_BI_URL": srv.URL(), "BEAMETRICS_BI_API_KEY": testKey}
	code := Main(context.Background(), []string{"query", "list"}, Env{Stdout: &out, Stderr: &errs, Getenv: func(k string) string { return env[k] }, Terminal: true})
	if code != 0 || !strings.Contains(errs.String(), "listed 600/600 queries") || strings.Count(out.String(), "\n") != 600 {
		t.Errorf("exit %d, stderr %q, %d lines out", code, errs.String(), strings.Count(out.String(), "\n"))
	}
}
