package redash

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/beametrics/beametrics/internal/jobs/bi"
	"github.com/beametrics/beametrics/internal/jobs/bi/httpapi"
	"github.com/beametrics/beametrics/internal/testing/bifake"
)

func TestListPagesAndConflict(t *testing.T) {
	srv := bifake.NewRedash("k")
	defer srv.Close()
	srv.Seed(bifake.Generate(501, 0))
	c, err := New(httpapi.Options{BaseURL: srv.URL(), Timeout: time.Second}, "k")
	if err != nil {
		t.Fatal(err)
	}
	var progress []int
	qs, err := c.List(context.Background(), bi.ListOptions{Progress: func(n, total int) { progress = append(progress, n, total) }})
	if err != nil || len(qs) != 501 || qs[500].ID != 501 {
		t.Fatalf("listed %d, %v", len(qs), err)
	}
	if reads, _ := srv.Requests(); reads != 3 || len(progress) != 6 || progress[4] != 501 || progress[5] != 501 {
		t.Errorf("%d page reads, progress %v; want 3 pages of 250", reads, progress)
	}
	q := qs[0]
	moved, err := c.Update(context.Background(), q, bi.Change{SQL: q.SQL, DataSourceID: 3})
	if err != nil || moved.DataSourceID != 3 || moved.SQL != q.SQL || moved.Version != q.Version+1 {
		t.Fatalf("move: %+v, %v", moved, err)
	}
	// q still carries the old version: Redash must refuse it.
	_, err = c.Update(context.Background(), q, bi.Change{SQL: "SELECT 1", DataSourceID: 3})
	if !errors.Is(err, bi.ErrConflict) || httpapi.StatusOf(err) != 409 {
		t.Errorf("stale write: %v (status %d), want ErrConflict wrapping Redash's 409", err, httpapi.StatusOf(err))
	}
	if got, _ := srv.Query(q.ID); got.SQL != q.SQL {
		t.Errorf("stale write landed: %q", got.SQL)
	}
}
