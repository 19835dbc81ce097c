package bi

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
)

func TestApplyWithoutBackupIsAnError(t *testing.T) {
	p := &recordingProvider{}
	r := &Runner{Provider: p}
	var sum Summary
	if err := r.Apply(context.Background(), testPlans(3), &sum); err == nil || len(p.written) != 0 {
		t.Errorf("err %v, %d writes; want an error and no write", err, len(p.written))
	}
}

// flakyProvider fails the n-th write (counting from 1) when unreachable(n)
// says so, with ErrUnreachable. (Writes do not go out in id order: the
// originals are saved by two goroutines.)
type flakyProvider struct {
	recordingProvider
	unreachable func(id int) bool
	mu          sync.Mutex
	tried       int
}

func (p *flakyProvider) Update(ctx context.Context, old Query, ch Change) (Query, error) {
	p.mu.Lock()
	p.tried++
	n := p.tried
	p.mu.Unlock()
	if p.unreachable(n) {
		return Query{}, fmt.Errorf("PUT /x/%d: %w: connection refused", old.ID, ErrUnreachable)
	}
	return p.recordingProvider.Update(ctx, old, ch)
}

func TestApplyStopsWhenTheServerIsGone(t *testing.T) {
	// From the 11th write on nothing answers; one worker makes the count exact.
	p := &flakyProvider{unreachable: func(n int) bool { return n > 10 }}
	r, _ := testRunner(t, p)
	r.Concurrency = 1
	var sum Summary
	err := r.Apply(context.Background(), testPlans(138), &sum)
	if !errors.Is(err, ErrServerGone) {
		t.Fatalf("err = %v, want ErrServerGone", err)
	}
	// A write handed to the worker before the stop may still go out.
	if p.tried < 10+MaxUnreachable || p.tried > 10+MaxUnreachable+1 {
		t.Errorf("%d writes tried, want %d or %d", p.tried, 10+MaxUnreachable, 10+MaxUnreachable+1)
	}
	if c, f, n := sum.Count(Changed), sum.Count(Failed), sum.Count(NotAttempted); c != 10 || c+f+n != 138 {
		t.Errorf("%d changed, %d failed, %d not attempted; want 10 changed and 138 in all", c, f, n)
	}
}

func TestApplyKeepsGoingWhenFailuresAreNotInARow(t *testing.T) {
	// Every 5th write succeeds: never MaxUnreachable failures in a row.
	p := &flakyProvider{unreachable: func(n int) bool { return n%MaxUnreachable != 0 }}
	r, _ := testRunner(t, p)
	r.Concurrency = 1
	var sum Summary
	if err := r.Apply(context.Background(), testPlans(100), &sum); err != nil {
		t.Fatal(err)
	}
	if p.tried != 100 || sum.Count(Changed) != 100/MaxUnreachable {
		t.Errorf("%d tried, %d changed; want 100 and %d", p.tried, sum.Count(Changed), 100/MaxUnreachable)
	}
}

// readingProvider answers the n-th read (counting from 1) with
// ErrUnreachable when unreachable(n) says so.
type readingProvider struct {
	recordingProvider
	unreachable func(n int) bool
	mu          sync.Mutex
	tried       int
}

func (p *readingProvider) Get(_ context.Context, id int) (Query, error) {
	p.mu.Lock()
	p.tried++
	n := p.tried
	p.mu.Unlock()
	if p.unreachable(n) {
		return Query{}, fmt.Errorf("GET /x/%d: %w: connection refused", id, ErrUnreachable)
	}
	return Query{ID: id}, nil
}

func TestFetchByIDStopsWhenTheServerIsGone(t *testing.T) {
	ids := make([]int, 138)
	for i := range ids {
		ids[i] = i + 1
	}
	// From the 11th read on nothing answers; one worker makes the count
	// exact: a read already handed to it may still go out.
	p := &readingProvider{unreachable: func(n int) bool { return n > 10 }}
	qs, failed, err := FetchByID(context.Background(), p, ids, 1)
	if !errors.Is(err, ErrServerGoneReading) {
		t.Fatalf("err = %v, want ErrServerGoneReading", err)
	}
	if p.tried < 10+MaxUnreachable || p.tried > 10+MaxUnreachable+1 || len(qs) != 10 || len(failed) != p.tried-10 {
		t.Errorf("%d reads tried, %d read, %d failed; want %d or %d tried, 10 read and the rest failed",
			p.tried, len(qs), len(failed), 10+MaxUnreachable, 10+MaxUnreachable+1)
	}

	// Every 5th read answers: never MaxUnreachable failures in a row.
	p = &readingProvider{unreachable: func(n int) bool { return n%MaxUnreachable != 0 }}
	qs, failed, err = FetchByID(context.Background(), p, ids, 1)
	if err != nil || p.tried != 138 || len(qs) != 138/MaxUnreachable || len(failed) != 138-138/MaxUnreachable {
		t.Errorf("err %v, %d tried, %d read, %d failed; want all 138 tried and %d read", err, p.tried, len(qs), len(failed), 138/MaxUnreachable)
	}
}
