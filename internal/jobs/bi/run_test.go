package bi

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// recordingProvider accepts every write and remembers which ids it got.
type recordingProvider struct {
	mu      sync.Mutex
	written []int
}

func (p *recordingProvider) Kind() string       { return "test" }
func (p *recordingProvider) SupportsTags() bool { return false }
func (p *recordingProvider) List(context.Context, ListOptions) ([]Query, error) {
	return nil, fmt.Errorf("not used")
}
func (p *recordingProvider) Get(context.Context, int) (Query, error) {
	return Query{}, fmt.Errorf("not used")
}
func (p *recordingProvider) DataSources(context.Context) ([]DataSource, error) {
	return nil, fmt.Errorf("not used")
}
func (p *recordingProvider) Update(_ context.Context, old Query, ch Change) (Query, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.written = append(p.written, old.ID)
	return Query{ID: old.ID, SQL: ch.SQL, DataSourceID: ch.DataSourceID, Version: old.Version + 1}, nil
}

func testPlans(n int) []Plan {
	plans := make([]Plan, n)
	for i := range plans {
		q := Query{ID: i + 1, SQL: fmt.Sprintf("SELECT %d", i+1), DataSourceID: 1}
		plans[i] = Plan{Query: q, Target: Change{SQL: q.SQL + " -- v2", DataSourceID: 1}}
	}
	return plans
}

func testRunner(t *testing.T, p Provider) (*Runner, *bytes.Buffer) {
	t.Helper()
	b, err := CreateBackup(t.TempDir(), "test", "http://x", "query update", time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	var errs bytes.Buffer
	return &Runner{
		Provider: p, Concurrency: 4, Backup: b, Out: &bytes.Buffer{}, Errs: &errs,
		Recovery: func(id int, file string, _ int) string { return file },
	}, &errs
}

func TestApplyWritesNothingWhoseOriginalIsNotSaved(t *testing.T) {
	p := &recordingProvider{}
	r, _ := testRunner(t, p)
	// The originals' directory is gone, so no original can be saved.
	if err := os.RemoveAll(filepath.Join(filepath.Dir(r.Backup.Path()), "original")); err != nil {
		t.Fatal(err)
	}
	var sum Summary
	r.Apply(context.Background(), testPlans(50), &sum)
	if len(p.written) != 0 {
		t.Errorf("%d queries written without a saved original", len(p.written))
	}
	if sum.Count(Failed) != 50 {
		t.Fatalf("%d failed, want 50", sum.Count(Failed))
	}
	for _, res := range sum.results[Failed] {
		if !strings.Contains(res.Reason, "not written, because the backup failed: saving original of query") {
			t.Errorf("query %d: reason %q", res.ID, res.Reason)
		}
	}
}

func TestApplyCancelledLeavesNoOriginals(t *testing.T) {
	p := &recordingProvider{}
	r, _ := testRunner(t, p)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var sum Summary
	r.Apply(ctx, testPlans(3000), &sum)
	files, err := os.ReadDir(filepath.Join(filepath.Dir(r.Backup.Path()), "original"))
	if err != nil {
		t.Fatal(err)
	}
	// Writes that started keep their originals; none else stay.
	if len(files) != len(p.written) || sum.Count(NotAttempted) != 3000-len(p.written) {
		t.Errorf("%d originals, %d written, %d not attempted", len(files), len(p.written), sum.Count(NotAttempted))
	}
	if len(p.written) > 0 {
		t.Logf("%d writes started before the cancel was seen", len(p.written))
	}
}

func TestApplyWritesEveryPlanOnceWithItsOriginal(t *testing.T) {
	p := &recordingProvider{}
	r, _ := testRunner(t, p)
	plans := testPlans(3000)
	var sum Summary
	r.Apply(context.Background(), plans, &sum)
	if sum.Count(Changed) != 3000 || len(p.written) != 3000 {
		t.Fatalf("%d changed, %d written", sum.Count(Changed), len(p.written))
	}
	seen := map[int]bool{}
	for _, id := range p.written {
		if seen[id] {
			t.Errorf("query %d written twice", id)
		}
		seen[id] = true
	}
	b, err := ReadBackup(r.Backup.Path())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range b.Entries {
		got, err := os.ReadFile(e.OriginalFile)
		if err != nil || string(got) != e.Before.SQL || e.Status != Changed {
			t.Errorf("query %d: original %q (%v), before %q, status %q", e.ID, got, err, e.Before.SQL, e.Status)
		}
	}
	if len(b.Entries) != 3000 {
		t.Errorf("%d backup entries", len(b.Entries))
	}
}
