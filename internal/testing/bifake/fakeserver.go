// Package bifake holds strict in-process fakes of the Redash and
// Metabase APIs for tests: they check authentication, enforce Redash's
// pagination limits and version conflicts, and can inject failures and
// slow responses per request.
package bifake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
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
	server      *httptest.Server
	// notFound and render give a fake its server's answers: for a query
	// that is not there, and the JSON of one query.
	notFound notFoundFunc
	render   func(*Query) map[string]any
}

func newStore(apiKey string, notFound notFoundFunc, render func(*Query) map[string]any) *store {
	return &store{
		notFound: notFound,
		render:   render,
		queries:  map[int]*Query{},
		dataSources: []DataSource{
			{ID: 1, Name: "warehouse", Type: "pg"},
			{ID: 2, Name: "warehouse-replica", Type: "pg"},
			{ID: 3, Name: "bigquery", Type: "bigquery"},
		},
		clock:  time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		apiKey: apiKey,
	}
}

// serve starts the fake's server: a request whose header authHeader is not
// wantAuth gets denied's answer, any other goes to mux.
func (s *store) serve(mux http.Handler, authHeader, wantAuth string, denied http.HandlerFunc) {
	s.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Header.Get(authHeader) != wantAuth {
			denied(w, req)
			return
		}
		mux.ServeHTTP(w, req)
	}))
}

// URL is the server's base URL.
func (s *store) URL() string { return s.server.URL }

// Close stops the server.
func (s *store) Close() { s.server.Close() }

// notFoundFunc answers a request for a query that is not there; malformed
// tells a path id that is not a number from an unknown one, which the real
// servers word differently.
type notFoundFunc func(w http.ResponseWriter, malformed bool)

// target reads the query id in req's path and applies any fault to the
// request; ok is false when the request has been answered already.
func (s *store) target(w http.ResponseWriter, req *http.Request) (id int, ok bool) {
	id, err := strconv.Atoi(req.PathValue("id"))
	if err != nil {
		s.notFound(w, true)
		return 0, false
	}
	return id, !s.injected(w, req, id)
}

// find returns query id or answers s.notFound; the caller holds s.mu.
func (s *store) find(w http.ResponseWriter, id int) (*Query, bool) {
	q, ok := s.queries[id]
	if !ok {
		s.notFound(w, false)
	}
	return q, ok
}

// get serves GET of the query in the path.
func (s *store) get(w http.ResponseWriter, req *http.Request) {
	id, ok := s.target(w, req)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if q, found := s.find(w, id); found {
		writeJSON(w, http.StatusOK, s.render(q))
	}
}

// sortedIDs lists the ids of the live or the archived queries in order;
// the caller holds s.mu.
func (s *store) sortedIDs(archived bool) []int {
	ids := make([]int, 0, len(s.queries))
	for id, q := range s.queries {
		if q.Archived == archived {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// saved answers a write that changed q: a new version and updated_at, and
// the query as the server now holds it. The caller holds s.mu.
func (s *store) saved(w http.ResponseWriter, q *Query) {
	q.Version++
	q.UpdatedAt = s.tick()
	writeJSON(w, http.StatusOK, s.render(q))
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
