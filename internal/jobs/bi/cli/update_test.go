package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/beametrics/beametrics/internal/jobs/bi"
	"github.com/beametrics/beametrics/internal/testing/bifake"
	"github.com/beametrics/beametrics/internal/testing/textcheck"
)

func TestDryRunDiffGolden(t *testing.T) {
	srv, _ := seeded(t, bifake.NewRedash(testKey), 12, 0)
	r := runBI(t, context.Background(), "redash", srv.URL(), "query", "update",
		"--query-regexp", "sessions",
		"--query-replace", "analytics.events_v1", "analytics.events_v2",
		"--regexp-replace", `tenant_id = (\d+)`, "tenant_id IN ($1, 0)",
		"--data-source", "bigquery", "--max-changes", "2")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	checkGolden(t, "update_dryrun_redash.golden", r.stdout)
	if _, writes := srv.Requests(); writes != 0 {
		t.Errorf("a dry run sent %d writes", writes)
	}
}

func TestApplyThenRestoreExactly20000(t *testing.T) {
	srv, seed := seeded(t, bifake.NewRedash(testKey), 20000, 10)
	dir := t.TempDir()
	ctx := context.Background()
	r := runBI(t, ctx, "redash", srv.URL(), "query", "update", "--rate", "0", "--apply", "--yes", "--backup-dir", dir,
		"--query-regexp", `events_v1`, "--query-replace", "analytics.events_v1", "analytics.events_v2")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	live := 0
	for _, q := range seed {
		got, _ := srv.Query(q.ID)
		want := q.SQL
		if !q.Archived {
			live++
			want = strings.ReplaceAll(q.SQL, "analytics.events_v1", "analytics.events_v2")
		}
		if got.SQL != want {
			t.Fatalf("query %d after apply: %q, want %q", q.ID, got.SQL, want)
		}
	}
	if n := strings.Count(r.stdout, "changed; to undo: beametrics bi query update "); n != live {
		t.Errorf("%d recovery commands printed, want %d", n, live)
	}
	if !strings.Contains(r.stdout, "summary: 18000 changed, 0 failed\n") {
		t.Errorf("summary missing: %s", r.stdout[len(r.stdout)-min(len(r.stdout), 500):])
	}
	backup := backupPath(t, r.stdout)

	// One recovery command, run as printed, puts its query back.
	line := regexp1(t, r.stdout, `(?m)^query 4 changed; to undo: beametrics bi (.+)$`)
	args := append(strings.Fields(line), "--backup-dir", dir)
	rr := runBI(t, ctx, "redash", srv.URL(), args...)
	if got, _ := srv.Query(4); rr.code != 0 || got.SQL != seed[3].SQL {
		t.Fatalf("recovery command %q: exit %d %s; query 4 is %q", line, rr.code, rr.stderr, got.SQL)
	}

	// Restore refuses a large run without --yes and writes nothing.
	_, writesBefore := srv.Requests()
	rr = runBI(t, ctx, "redash", "", "restore", backup, "--apply", "--rate", "0", "--backup-dir", dir)
	if _, w := srv.Requests(); rr.code != 2 || w != writesBefore || !strings.Contains(rr.stderr, "refusing to change 17999 queries") {
		t.Fatalf("restore without --yes: exit %d, %d writes, %s", rr.code, w-writesBefore, rr.stderr)
	}
	rr = runBI(t, ctx, "redash", "", "restore", backup, "--apply", "--yes", "--rate", "0", "--backup-dir", dir)
	if rr.code != 0 || !strings.Contains(rr.stdout, "summary: 17999 changed, 1 unchanged, 0 failed") {
		t.Fatalf("restore: exit %d: %s\n%.1000s", rr.code, rr.stderr, rr.stdout[max(0, len(rr.stdout)-1000):])
	}
	for _, q := range seed {
		if got, _ := srv.Query(q.ID); got.SQL != q.SQL || got.DataSourceID != q.DataSourceID {
			t.Fatalf("query %d after restore: %q, want the original %q", q.ID, got.SQL, q.SQL)
		}
	}
	noKeyInFiles(t, dir)
}

func regexp1(t *testing.T, s, expr string) string {
	t.Helper()
	m := regexpMust(expr).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("no match for %s", expr)
	}
	return m[1]
}

func TestConflictIsSkippedNotOverwritten(t *testing.T) {
	srv, _ := seeded(t, bifake.NewRedash(testKey), 20, 0)
	// Someone saves query 8 between our read and our write.
	var once sync.Once
	srv.SetFault(func(method, path string, id int) *bifake.Fault {
		if method == "POST" && id == 8 {
			once.Do(func() { srv.Edit(8, "SELECT 'edited by a colleague'") })
		}
		return nil
	})
	dir := t.TempDir()
	r := runBI(t, context.Background(), "redash", srv.URL(), "query", "update", "--apply", "--backup-dir", dir,
		"--query-regexp", "sessions", "--query-replace", "analytics.sessions", "analytics.sessions_v2")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1: %s", r.code, r.stderr)
	}
	if got, _ := srv.Query(8); got.SQL != "SELECT 'edited by a colleague'" {
		t.Errorf("query 8 was overwritten: %q", got.SQL)
	}
	textcheck.Contains(t, "output", r.stdout, "summary: 4 changed, 1 skipped, 0 failed", "changed: 4 12 16 20", "skipped: 8", "8: edited by someone else since it was read; not overwritten")
	if !strings.Contains(r.stderr, "query 8: skipped") || !strings.Contains(r.stderr, "409") {
		t.Errorf("stderr lacks the 409 skip: %s", r.stderr)
	}
	// Restore leaves the colleague's edit alone: the run never wrote it.
	rr := runBI(t, context.Background(), "redash", srv.URL(), "restore", backupPath(t, r.stdout), "--apply", "--backup-dir", dir)
	if got, _ := srv.Query(8); rr.code != 0 || got.SQL != "SELECT 'edited by a colleague'" {
		t.Errorf("restore: exit %d %s; query 8 %q", rr.code, rr.stderr, got.SQL)
	}
}

func TestInjected500sAndTimeouts(t *testing.T) {
	srv, seed := seeded(t, bifake.NewRedash(testKey), 40, 0)
	var listFailures atomic.Int32
	srv.SetFault(func(method, path string, id int) *bifake.Fault {
		switch {
		case method == "GET" && path == "/api/queries" && listFailures.Add(1) == 2:
			return &bifake.Fault{Status: 502} // one failed page read, retried
		case method == "POST" && id == 12:
			return &bifake.Fault{Status: 500}
		case method == "POST" && id == 16:
			return &bifake.Fault{Delay: 2500 * time.Millisecond} // lands after the client gave up
		}
		return nil
	})
	dir := t.TempDir()
	r := runBI(t, context.Background(), "redash", srv.URL(), "query", "update", "--apply", "--backup-dir", dir, "--timeout", "1s",
		"--query-regexp", "sessions", "--query-replace", "analytics.sessions", "analytics.sessions_v2")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1: %s", r.code, r.stderr)
	}
	textcheck.Contains(t, "output", r.stdout, "summary: 8 changed, 2 failed", "failed: 12 16", "12: POST /api/queries/12: HTTP 500 Internal Server Error: {\"message\":\"injected failure 500\"}", "16: POST /api/queries/16: timed out after 1s")
	if got, _ := srv.Query(12); got.SQL != seed[11].SQL {
		t.Errorf("query 12 changed despite the 500")
	}
	// The timed-out write still lands on the server; restore finds it
	// through the backup and puts it back.
	deadline := time.Now().Add(20 * time.Second)
	for q, _ := srv.Query(16); q.SQL == seed[15].SQL; q, _ = srv.Query(16) {
		if time.Now().After(deadline) {
			t.Fatal("the delayed write never landed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	srv.SetFault(nil)
	rr := runBI(t, context.Background(), "redash", srv.URL(), "restore", backupPath(t, r.stdout), "--apply", "--backup-dir", dir)
	if rr.code != 0 {
		t.Fatalf("restore: exit %d: %s %s", rr.code, rr.stderr, rr.stdout)
	}
	for _, q := range seed {
		if got, _ := srv.Query(q.ID); got.SQL != q.SQL {
			t.Errorf("query %d not restored: %q", q.ID, got.SQL)
		}
	}
}

func TestInterruptedRunLeavesCompleteBackup(t *testing.T) {
	srv, seed := seeded(t, bifake.NewRedash(testKey), 2000, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var posts atomic.Int32
	srv.SetFault(func(method, path string, id int) *bifake.Fault {
		if method != "POST" {
			return nil
		}
		if posts.Add(1) == 300 {
			cancel() // Ctrl-C while writes are in flight
		}
		return &bifake.Fault{Delay: time.Millisecond}
	})
	dir := t.TempDir()
	r := runBI(t, ctx, "redash", srv.URL(), "query", "update", "--apply", "--yes", "--rate", "0", "--concurrency", "8", "--backup-dir", dir,
		"--query-regexp", "events_v1", "--query-replace", "events_v1", "events_v2")
	if r.code != 1 || !strings.Contains(r.stdout, "interrupted:") {
		t.Fatalf("exit %d, want 1 and an interrupted note: %s", r.code, r.stderr)
	}
	var changedOnServer []int
	for _, q := range seed {
		if got, _ := srv.Query(q.ID); got.SQL != q.SQL {
			changedOnServer = append(changedOnServer, q.ID)
		}
	}
	if len(changedOnServer) < 300 || len(changedOnServer) >= 2000 {
		t.Fatalf("%d queries changed; the interruption did not stop the run in the middle", len(changedOnServer))
	}
	b, err := bi.ReadBackup(backupPath(t, r.stdout))
	if err != nil {
		t.Fatal(err)
	}
	recorded := map[int]string{}
	for _, e := range b.Entries {
		recorded[e.ID] = e.Status
	}
	for _, id := range changedOnServer {
		if recorded[id] != bi.Changed {
			t.Errorf("query %d changed on the server but the backup says %q", id, recorded[id])
		}
	}
	if len(recorded) != len(changedOnServer) {
		t.Errorf("backup has %d entries, server has %d changes", len(recorded), len(changedOnServer))
	}
	// Originals are saved ahead of the writes; those of queries not
	// attempted must be gone, the others there.
	files, err := os.ReadDir(filepath.Join(filepath.Dir(b.Path), "original"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		var id int
		if _, err := fmt.Sscanf(f.Name(), "query-%d.sql", &id); err != nil || recorded[id] == "" {
			t.Errorf("original/%s is not for a query in the backup", f.Name())
		}
	}
	if len(files) != len(recorded) {
		t.Errorf("%d originals saved for %d queries in the backup", len(files), len(recorded))
	}
	if !strings.Contains(r.stdout, "not attempted") {
		t.Errorf("summary does not list the queries not attempted")
	}
	srv.SetFault(nil)
	rr := runBI(t, context.Background(), "redash", srv.URL(), "restore", b.Path, "--apply", "--yes", "--backup-dir", dir)
	if rr.code != 0 {
		t.Fatalf("restore: exit %d: %s", rr.code, rr.stderr)
	}
	for _, q := range seed {
		if got, _ := srv.Query(q.ID); got.SQL != q.SQL {
			t.Fatalf("query %d not restored", q.ID)
		}
	}
}

func TestUpdateByIDsAndMove(t *testing.T) {
	srv, seed := seeded(t, bifake.NewRedash(testKey), 10, 0)
	dir := t.TempDir()
	sqlFile := filepath.Join(dir, "new.sql")
	if err := os.WriteFile(sqlFile, []byte("SELECT 'it''s' -- $1 `x` \"q\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runBI(t, context.Background(), "redash", srv.URL(), "query", "update", "3", "5", "999", "--query-file", sqlFile,
		"--data-source", "2", "--apply", "--backup-dir", dir)
	if r.code != 1 || !strings.Contains(r.stdout, "failed: 999") || !strings.Contains(r.stdout, "999: reading it: GET /api/queries/999: HTTP 404") {
		t.Fatalf("exit %d:\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, id := range []int{3, 5} {
		got, _ := srv.Query(id)
		if got.SQL != "SELECT 'it''s' -- $1 `x` \"q\"\n" || got.DataSourceID != 2 {
			t.Errorf("query %d: %q on %d", id, got.SQL, got.DataSourceID)
		}
	}
	if !strings.Contains(r.stdout, "--data-source 1 --apply") {
		t.Errorf("the recovery command of a moved query must move it back:\n%s", r.stdout)
	}
	rr := runBI(t, context.Background(), "redash", srv.URL(), "restore", backupPath(t, r.stdout), "--apply", "--backup-dir", dir)
	if rr.code != 0 {
		t.Fatalf("restore: %d %s", rr.code, rr.stderr)
	}
	for _, id := range []int{3, 5} {
		if got, _ := srv.Query(id); got.SQL != seed[id-1].SQL || got.DataSourceID != seed[id-1].DataSourceID {
			t.Errorf("query %d not restored: %q on %d", id, got.SQL, got.DataSourceID)
		}
	}
}

func TestMaxChanges(t *testing.T) {
	srv, _ := seeded(t, bifake.NewRedash(testKey), 20, 0)
	dir := t.TempDir()
	args := []string{"query", "update", "--apply", "--backup-dir", dir, "--max-changes", "3", "--query-regexp", "sessions", "--regexp-replace", `analytics\.sessions\b`, "analytics.sessions_v2"}
	r := runBI(t, context.Background(), "redash", srv.URL(), args...)
	if _, w := srv.Requests(); r.code != 2 || w != 0 || !strings.Contains(r.stderr, "refusing to change 5 queries, more than --max-changes 3") {
		t.Fatalf("exit %d, %d writes: %s", r.code, w, r.stderr)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a refused run left a backup: %v", entries)
	}
	r = runBI(t, context.Background(), "redash", srv.URL(), append(args, "--yes")...)
	if _, w := srv.Requests(); r.code != 0 || w != 5 {
		t.Fatalf("with --yes: exit %d, %d writes: %s", r.code, w, r.stderr)
	}
	// Nothing left to change: a second run is all unchanged and writes nothing.
	r = runBI(t, context.Background(), "redash", srv.URL(), append(args, "--yes")...)
	if _, w := srv.Requests(); r.code != 0 || w != 5 || !strings.Contains(r.stdout, "summary: 0 changed, 5 unchanged, 0 failed") {
		t.Fatalf("second run: exit %d, %d writes: %s", r.code, w, r.stdout)
	}
}
