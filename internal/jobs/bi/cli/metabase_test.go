package cli

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/beametrics/beametrics/internal/testing/bifake"
)

func TestMetabaseListUpdateRestore(t *testing.T) {
	srv, seed := seeded(t, bifake.NewMetabase(testKey), 200, 10)
	ctx := context.Background()

	// GUI-built cards (every 50th) and archived ones are not listed.
	r := runBI(t, ctx, "metabase", srv.URL(), "query", "list", "--query-regexp", "sessions")
	var want []string
	for _, q := range seed {
		if q.Native && !q.Archived && strings.Contains(q.SQL, "sessions") {
			want = append(want, fmt.Sprint(q.ID))
		}
	}
	if r.code != 0 || strings.Join(strings.Fields(r.stdout), ",") != strings.Join(want, ",") {
		t.Fatalf("list: exit %d, got %q, want %v (%s)", r.code, r.stdout, want, r.stderr)
	}
	if !strings.Contains(r.stderr, "left out 4 listed items: built with the query builder, not SQL (ids 25 75 125 175)") {
		t.Errorf("GUI cards not reported: %q", r.stderr)
	}
	if r := runBI(t, ctx, "metabase", srv.URL(), "query", "list", "--tag", "daily"); r.code != 2 || !strings.Contains(r.stderr, "metabase queries have no tags") {
		t.Errorf("--tag on metabase: exit %d %s", r.code, r.stderr)
	}

	dir := t.TempDir()
	r = runBI(t, ctx, "metabase", srv.URL(), "query", "update", "--apply", "--max-changes", "1000", "--backup-dir", dir,
		"--query-regexp", "sessions", "--query-replace", "analytics.sessions", "analytics.sessions_v2", "--data-source", "warehouse-replica")
	if r.code != 0 {
		t.Fatalf("update: exit %d: %s", r.code, r.stderr)
	}
	for _, q := range seed {
		got, _ := srv.Query(q.ID)
		changed := q.Native && !q.Archived && strings.Contains(q.SQL, "sessions")
		wantSQL, wantDS := q.SQL, q.DataSourceID
		if changed {
			wantSQL, wantDS = strings.ReplaceAll(q.SQL, "analytics.sessions", "analytics.sessions_v2"), 2
		}
		if got.SQL != wantSQL || got.DataSourceID != wantDS {
			t.Fatalf("card %d: %q on %d, want %q on %d", q.ID, got.SQL, got.DataSourceID, wantSQL, wantDS)
		}
		if q.TemplateTags != nil && !reflect.DeepEqual(got.TemplateTags, q.TemplateTags) {
			t.Errorf("card %d lost its template tags: %v", q.ID, got.TemplateTags)
		}
	}
	rr := runBI(t, ctx, "metabase", srv.URL(), "restore", backupPath(t, r.stdout), "--apply", "--backup-dir", dir)
	if rr.code != 0 {
		t.Fatalf("restore: exit %d: %s", rr.code, rr.stderr)
	}
	for _, q := range seed {
		if got, _ := srv.Query(q.ID); got.SQL != q.SQL || got.DataSourceID != q.DataSourceID {
			t.Fatalf("card %d not restored: %q on %d", q.ID, got.SQL, got.DataSourceID)
		}
	}
}

func TestMetabaseConflictDetectedByReRead(t *testing.T) {
	srv, _ := seeded(t, bifake.NewMetabase(testKey), 20, 0)
	var once sync.Once
	// A colleague saves card 8 after our listing, before our write.
	srv.SetFault(func(method, path string, id int) *bifake.Fault {
		if method == "GET" && id == 8 {
			once.Do(func() { srv.Edit(8, "SELECT 'colleague'") })
		}
		return nil
	})
	r := runBI(t, context.Background(), "metabase", srv.URL(), "query", "update", "--apply", "--backup-dir", t.TempDir(),
		"--query-regexp", "sessions", "--query-replace", "analytics.sessions", "analytics.sessions_v2")
	if r.code != 1 || !strings.Contains(r.stdout, "skipped: 8") || !strings.Contains(r.stdout, "changed: 4 12 16 20") {
		t.Fatalf("exit %d:\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if got, _ := srv.Query(8); got.SQL != "SELECT 'colleague'" {
		t.Errorf("card 8 overwritten: %q", got.SQL)
	}
}
