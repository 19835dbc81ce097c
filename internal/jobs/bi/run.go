package bi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
)

// Plan is what a run intends for one query.
type Plan struct {
	// Query is the state the plan was made from; its Version is sent with
	// the write.
	Query  Query
	Target Change
	// Skip, when set, says why the query is left alone.
	Skip string
	// Unchanged marks a query already in the target state.
	Unchanged bool
}

// Outcome kinds in a Summary.
const (
	Changed      = "changed"
	WouldChange  = "would change"
	Unchanged    = "unchanged"
	Skipped      = "skipped"
	Failed       = "failed"
	NotAttempted = "not attempted"
)

// Result is one query's outcome.
type Result struct {
	ID     int
	Reason string
}

// Summary collects outcomes; safe for concurrent use.
type Summary struct {
	mu      sync.Mutex
	results map[string][]Result
}

// Add records an outcome.
func (s *Summary) Add(outcome string, id int, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.results == nil {
		s.results = map[string][]Result{}
	}
	s.results[outcome] = append(s.results[outcome], Result{ID: id, Reason: reason})
}

// IDs returns the ids with the outcome, sorted.
func (s *Summary) IDs(outcome string) []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]int, 0, len(s.results[outcome]))
	for _, r := range s.results[outcome] {
		ids = append(ids, r.ID)
	}
	slices.Sort(ids)
	return ids
}

// Count returns the number of queries with the outcome.
func (s *Summary) Count(outcome string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.results[outcome])
}

// Write prints the summary: counts, then the ids of each outcome, with the
// reason for each skipped, failed or not attempted query.
func (s *Summary) Write(w io.Writer) {
	order := []string{WouldChange, Changed, Unchanged, Skipped, Failed, NotAttempted}
	dryRun := s.Count(WouldChange) > 0
	var counts []string
	for _, o := range order {
		if n := s.Count(o); n > 0 || (o == Changed && !dryRun) || o == Failed {
			counts = append(counts, fmt.Sprintf("%d %s", n, o))
		}
	}
	fmt.Fprintf(w, "summary: %s\n", strings.Join(counts, ", "))
	for _, o := range order {
		ids := s.IDs(o)
		if len(ids) == 0 {
			continue
		}
		strs := make([]string, len(ids))
		for i, id := range ids {
			strs[i] = fmt.Sprint(id)
		}
		fmt.Fprintf(w, "%s: %s\n", o, strings.Join(strs, " "))
		if o == Skipped || o == Failed || o == NotAttempted {
			s.mu.Lock()
			rs := slices.Clone(s.results[o])
			s.mu.Unlock()
			slices.SortFunc(rs, func(a, b Result) int { return a.ID - b.ID })
			for _, r := range rs {
				fmt.Fprintf(w, "  %d: %s\n", r.ID, r.Reason)
			}
		}
	}
}

// Runner previews and applies plans.
type Runner struct {
	Provider    Provider
	Concurrency int
	// Backup receives every write before it is sent; required to apply.
	Backup *BackupWriter
	// Out gets diffs, recovery commands and the summary; Errs gets each
	// problem as it happens.
	Out, Errs io.Writer
	// DataSourceLabel names a data source id in diffs.
	DataSourceLabel func(id int) string
	// Recovery returns the command that puts one query back, given its id,
	// the file holding its original SQL and, when the run moved it, its
	// original data source (else 0).
	Recovery func(id int, originalFile string, movedFrom int) string
	// Progress, when set, is called after each write.
	Progress func(done, total int)

	outMu sync.Mutex
	// unreachable counts writes in a row that could not reach the server.
	unreachable int
}

// MaxUnreachable is how many writes in a row may fail to reach the server
// (ErrUnreachable) before a run stops starting new ones: a server that is
// gone should cost a few timeouts, not one per remaining query.
const MaxUnreachable = 5

// ErrServerGone is returned by Apply when it stopped because
// MaxUnreachable writes in a row could not reach the server.
var ErrServerGone = fmt.Errorf("stopped after %d writes in a row could not reach the server", MaxUnreachable)

// Preview prints a diff for every plan that changes something, records the
// unchanged and skipped ones in sum, and returns the plans to write, in
// id order.
func (r *Runner) Preview(plans []Plan, sum *Summary) []Plan {
	plans = slices.Clone(plans)
	slices.SortFunc(plans, func(a, b Plan) int { return a.Query.ID - b.Query.ID })
	var todo []Plan
	for _, p := range plans {
		q := p.Query
		switch {
		case p.Skip != "":
			sum.Add(Skipped, q.ID, p.Skip)
			continue
		case p.Unchanged || (p.Target.SQL == q.SQL && p.Target.DataSourceID == q.DataSourceID):
			sum.Add(Unchanged, q.ID, "")
			continue
		}
		fmt.Fprint(r.Out, Diff(q.ID, q.SQL, p.Target.SQL, r.label(q.DataSourceID), r.label(p.Target.DataSourceID)))
		todo = append(todo, p)
	}
	return todo
}

func (r *Runner) label(id int) string {
	if r.DataSourceLabel == nil {
		return fmt.Sprint(id)
	}
	return r.DataSourceLabel(id)
}

// saveAhead bounds how many originals are saved before their writes
// start. Saving them ahead keeps the file system's stalls off the path of
// the HTTP writes: creating a file takes 50 µs on an idle disk but tens of
// milliseconds when the disk is busy, and a stall there used to idle every
// worker at once. The bound keeps the files a Ctrl-C must remove few.
const saveAhead = 1024

// originalSavers is how many goroutines create the originals' files. On the
// shared 2-core development machine a file creation took 0.05 to 0.75 ms,
// nearly all of it system CPU; 20,000 took 6 to 12 s with 2 creators, 5 to
// 16 s with 1, and 12 to 16 s with 8, which also used about twice the system
// CPU of 1 (contention in the kernel). Even 1 keeps ahead of 500 writes per
// second.
const originalSavers = 2

// savedPlan is plans[i] with its original SQL saved, or failed to be.
type savedPlan struct {
	Plan
	i    int
	file string
	err  error
}

// Apply writes the plans with r.Concurrency workers. When ctx is cancelled
// no new write starts; writes already sent are finished and recorded, so the
// backup covers every change made. A failed query does not stop the others,
// except that MaxUnreachable writes in a row that cannot reach the server
// stop the run as a cancel would, and Apply returns ErrServerGone. Apply
// without a Backup writes nothing and returns an error.
func (r *Runner) Apply(parent context.Context, plans []Plan, sum *Summary) error {
	if r.Backup == nil {
		return errors.New("bi: Runner.Apply without a backup: nothing written")
	}
	ctx, stopWrites := context.WithCancelCause(parent)
	defer stopWrites(nil)
	r.unreachable = 0
	n := max(r.Concurrency, 1)
	stop := make(chan struct{})
	next := make(chan int)
	go func() {
		defer close(next)
		for i := range plans {
			select {
			case next <- i:
			case <-stop:
				return
			}
		}
	}()
	saved := make(chan savedPlan, saveAhead)
	var savers sync.WaitGroup
	for range originalSavers {
		savers.Go(func() {
			for i := range next {
				file, err := r.Backup.SaveOriginal(plans[i].Query)
				saved <- savedPlan{Plan: plans[i], i: i, file: file, err: err}
			}
		})
	}
	go func() {
		savers.Wait()
		close(saved)
	}()

	work := make(chan savedPlan)
	var wg sync.WaitGroup
	var doneMu sync.Mutex
	done := 0
	for range n {
		wg.Go(func() {
			for sp := range work {
				if r.applyOne(ctx, sp, sum) {
					stopWrites(ErrServerGone)
				}
				if r.Progress != nil {
					doneMu.Lock()
					done++
					r.Progress(done, len(plans))
					doneMu.Unlock()
				}
			}
		})
	}
	sent := make([]bool, len(plans))
	for range plans {
		var sp savedPlan
		select {
		case sp = <-saved:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			r.discard(sp)
			break
		}
		select {
		case work <- sp:
			sent[sp.i] = true
			continue
		case <-ctx.Done():
			r.discard(sp)
		}
		break
	}
	close(work)
	// Originals saved for writes that will not start are removed, so the
	// backup holds only what its backup file refers to.
	close(stop)
	for sp := range saved {
		r.discard(sp)
	}
	reason := NotAttemptedReason(parent)
	gone := errors.Is(context.Cause(ctx), ErrServerGone) && parent.Err() == nil
	if gone {
		reason = "not attempted: the run " + ErrServerGone.Error()
	}
	for i, p := range plans {
		if !sent[i] {
			sum.Add(NotAttempted, p.Query.ID, reason)
		}
	}
	wg.Wait()
	if gone {
		return ErrServerGone
	}
	return nil
}

// NotAttemptedReason says why a query was not written once ctx is done: an
// interrupt, or the cause ctx was stopped with.
func NotAttemptedReason(ctx context.Context) string {
	if c := context.Cause(ctx); c != nil && !errors.Is(c, context.Canceled) {
		return "the run stopped: " + c.Error()
	}
	return "run interrupted before this query was written"
}

// discard removes the original saved for a plan that is not written.
func (r *Runner) discard(sp savedPlan) {
	if sp.file == "" || sp.err != nil {
		return
	}
	if err := os.Remove(sp.file); err != nil {
		r.logf("query %d: not attempted; its saved original could not be removed: %v\n", sp.Query.ID, err)
	}
}

// applyOne writes one plan and reports whether the server now counts as
// gone (MaxUnreachable writes in a row could not reach it).
func (r *Runner) applyOne(ctx context.Context, sp savedPlan, sum *Summary) (gone bool) {
	p, q, file := sp.Plan, sp.Query, sp.file
	err := sp.err
	if err == nil {
		err = r.Backup.AppendChange(q, p.Target, file)
	}
	if err != nil {
		r.fail(sum, q.ID, "not written, because the backup failed: "+err.Error())
		return false
	}
	// A write already decided on is finished even after Ctrl-C, so the
	// outcome is known and recorded; the HTTP timeout still bounds it.
	updated, err := r.Provider.Update(context.WithoutCancel(ctx), q, p.Target)
	r.outMu.Lock()
	if errors.Is(err, ErrUnreachable) {
		r.unreachable++
	} else {
		r.unreachable = 0
	}
	gone = r.unreachable >= MaxUnreachable
	r.outMu.Unlock()
	switch {
	case errors.Is(err, ErrConflict):
		reason := "edited by someone else since it was read; not overwritten: " + err.Error()
		r.logf("query %d: skipped: %s\n", q.ID, reason)
		sum.Add(Skipped, q.ID, reason)
		r.record(q.ID, Skipped, err.Error(), 0)
	case err != nil:
		r.fail(sum, q.ID, err.Error())
		r.record(q.ID, Failed, err.Error(), 0)
	default:
		if updated.SQL != p.Target.SQL || updated.DataSourceID != p.Target.DataSourceID {
			// Restore compares with the state sent, so say it differs.
			r.logf("query %d: warning: the server answered with a different text or data source than was sent\n", q.ID)
		}
		sum.Add(Changed, q.ID, "")
		r.record(q.ID, Changed, "", updated.Version)
		r.outMu.Lock()
		movedFrom := 0
		if p.Target.DataSourceID != q.DataSourceID {
			movedFrom = q.DataSourceID
		}
		fmt.Fprintf(r.Out, "query %d changed; to undo: %s\n", q.ID, r.Recovery(q.ID, file, movedFrom))
		r.outMu.Unlock()
	}
	return gone
}

func (r *Runner) record(id int, status, reason string, version int) {
	if err := r.Backup.RecordResult(id, status, reason, version); err != nil {
		// The change line is already in the backup, so restore still
		// finds the query; say the result line is missing.
		r.logf("query %d: %s, but its result could not be added to the backup: %v\n", id, status, err)
	}
}

func (r *Runner) fail(sum *Summary, id int, reason string) {
	r.logf("query %d: failed: %s\n", id, reason)
	sum.Add(Failed, id, reason)
}

func (r *Runner) logf(format string, args ...any) {
	r.outMu.Lock()
	defer r.outMu.Unlock()
	fmt.Fprintf(r.Errs, format, args...)
}

// ErrServerGoneReading is returned by FetchByID when it stopped because
// MaxUnreachable reads in a row could not reach the server.
var ErrServerGoneReading = fmt.Errorf("stopped after %d reads in a row could not reach the server", MaxUnreachable)

// FetchByID reads the given queries with concurrency workers. Queries that
// cannot be read are returned as failures with the reason. When
// MaxUnreachable reads in a row cannot reach the server, no new read
// starts, the reads in flight finish, and it returns ErrServerGoneReading
// with what it has: a server that is gone should cost a few timeouts, not
// three per query.
func FetchByID(ctx context.Context, p Provider, ids []int, concurrency int) ([]Query, []Result, error) {
	type res struct {
		q   Query
		err error
		id  int
	}
	in := make(chan int)
	out := make(chan res)
	gone := make(chan struct{})
	var wg sync.WaitGroup
	for range max(concurrency, 1) {
		wg.Go(func() {
			for id := range in {
				q, err := p.Get(ctx, id)
				out <- res{q, err, id}
			}
		})
	}
	go func() {
	feed:
		for _, id := range ids {
			select {
			case in <- id:
			case <-gone:
				break feed
			}
		}
		close(in)
		wg.Wait()
		close(out)
	}()
	var qs []Query
	var failed []Result
	unreachable := 0
	for r := range out {
		if errors.Is(r.err, ErrUnreachable) {
			if unreachable++; unreachable == MaxUnreachable {
				close(gone)
			}
		} else if unreachable < MaxUnreachable {
			unreachable = 0
		}
		if r.err != nil {
			failed = append(failed, Result{ID: r.id, Reason: "reading it: " + r.err.Error()})
			continue
		}
		qs = append(qs, r.q)
	}
	slices.SortFunc(qs, func(a, b Query) int { return a.ID - b.ID })
	if unreachable >= MaxUnreachable {
		return qs, failed, ErrServerGoneReading
	}
	return qs, failed, nil
}
