// Package fakeserver holds strict in-process fakes of the Redash and
// Metabase APIs for tests: they check authentication, enforce Redash's
// pagination limits and version conflicts, and can inject failures and
// slow responses per request.
package bifake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Query is a saved query held by a fake.
type Query struct {
	ID           int
	Name         string
	SQL          string
	DataSourceID int
	Tags         []string
	Archived     bool
	Version      int
	UpdatedAt    time.Time
	// Native is false for a Metabase card built with the GUI builder.
	Native bool
	// TemplateTags is Metabase's native.template-tags, kept to check that
	// writes preserve it.
	TemplateTags map[string]any
}

// DataSource is a database connection known to a fake.
type DataSource struct {
	ID         int
	Name, Type string
}

// Fault is what a fake does to one request instead of (Status) or before
// (Delay) serving it. A delayed write is still applied afterwards, as a slow
// real server would, even when the client has given up.
type Fault struct {
	Status int
	Delay  time.Duration
	// Body replaces the error body sent with Status.
	Body string
	// Drop closes the connection without an answer, as a server that went
	// away mid-run would.
	Drop bool
}

// FaultFunc picks a fault for a request; id is the query id in the path, or
// 0. Returning nil serves the request normally.
type FaultFunc func(method, path string, id int) *Fault

// store is the state both fakes share the shape of.
type store struct {
	mu          sync.Mutex
	queries     map[int]*Query
	dataSources []DataSource
	fault       FaultFunc
	clock       time.Time
	reads       atomic.Int64
	writes      atomic.Int64
	apiKey      string
}

func newStore(apiKey string) *store {
	return &store{
		queries: map[int]*Query{},
		dataSources: []DataSource{
			{ID: 1, Name: "warehouse", Type: "pg"},
			{ID: 2, Name: "warehouse-replica", Type: "pg"},
			{ID: 3, Name: "bigquery", Type: "bigquery"},
		},
		clock:  time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		apiKey: apiKey,
	}
}

// tick advances the fake clock; every write gets a distinct updated_at.
func (s *store) tick() time.Time {
	s.clock = s.clock.Add(time.Second)
	return s.clock
}

// Seed replaces all queries.
func (s *store) Seed(qs []Query) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queries = make(map[int]*Query, len(qs))
	for i := range qs {
		q := qs[i]
		if q.Version == 0 {
			q.Version = 1
		}
		if q.UpdatedAt.IsZero() {
			q.UpdatedAt = s.clock
		}
		s.queries[q.ID] = &q
	}
}

// SetFault installs f (nil removes it).
func (s *store) SetFault(f FaultFunc) {
	s.mu.Lock()
	s.fault = f
	s.mu.Unlock()
}

// Query returns a copy of the stored query.
func (s *store) Query(id int) (Query, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, ok := s.queries[id]
	if !ok {
		return Query{}, false
	}
	return *q, true
}

// Edit changes a query's SQL as another user would, bumping its version.
func (s *store) Edit(id int, sql string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queries[id]
	q.SQL = sql
	q.Version++
	q.UpdatedAt = s.tick()
}

// Requests returns how many reads and writes were served (faults included).
func (s *store) Requests() (reads, writes int64) { return s.reads.Load(), s.writes.Load() }

func (s *store) dataSource(id int) bool {
	for _, d := range s.dataSources {
		if d.ID == id {
			return true
		}
	}
	return false
}

// injected applies the fault for a request; true means it was answered.
func (s *store) injected(w http.ResponseWriter, r *http.Request, id int) bool {
	if r.Method == http.MethodGet {
		s.reads.Add(1)
	} else {
		s.writes.Add(1)
	}
	s.mu.Lock()
	f := s.fault
	s.mu.Unlock()
	if f == nil {
		return false
	}
	ft := f(r.Method, r.URL.Path, id)
	if ft == nil {
		return false
	}
	if ft.Delay > 0 {
		// Keep going after the client leaves: the slow write still lands.
		t := time.NewTimer(ft.Delay)
		<-t.C
	}
	if ft.Drop {
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
			return true
		}
		panic("bifake: cannot drop a connection that cannot be hijacked")
	}
	if ft.Status != 0 {
		msg := ft.Body
		if msg == "" {
			msg = fmt.Sprintf("injected failure %d", ft.Status)
		}
		writeJSON(w, ft.Status, map[string]string{"message": msg})
		return true
	}
	return false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
