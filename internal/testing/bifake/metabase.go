package bifake

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
)

// Metabase is a fake Metabase server: X-API-KEY authentication (401
// "Unauthenticated" otherwise), GET /api/card with f=all|archived returning
// every card at once, PUT /api/card/ID validating the dataset_query, and
// GET /api/database. Metabase has no optimistic locking, and neither has
// this fake.
type Metabase struct {
	*store
	Server *httptest.Server
}

// NewMetabase starts a fake Metabase accepting apiKey.
func NewMetabase(apiKey string) *Metabase {
	m := &Metabase{store: newStore(apiKey)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/card", m.list)
	mux.HandleFunc("GET /api/card/{id}", m.get)
	mux.HandleFunc("PUT /api/card/{id}", m.update)
	mux.HandleFunc("GET /api/database", m.listDatabases)
	m.Server = httptest.NewServer(m.auth(mux))
	return m
}

// URL is the server's base URL.
func (m *Metabase) URL() string { return m.Server.URL }

// Close stops the server.
func (m *Metabase) Close() { m.Server.Close() }

func (m *Metabase) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Header.Get("X-API-KEY") != m.apiKey {
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte("Unauthenticated"))
			return
		}
		next.ServeHTTP(w, req)
	})
}

func notFound(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusNotFound)
	_, _ = w.Write([]byte("Not found."))
}

func cardJSON(q *Query) map[string]any {
	var dq map[string]any
	if q.Native {
		tags := q.TemplateTags
		if tags == nil {
			tags = map[string]any{}
		}
		dq = map[string]any{"type": "native", "database": q.DataSourceID, "native": map[string]any{"query": q.SQL, "template-tags": tags}}
	} else {
		dq = map[string]any{"type": "query", "database": q.DataSourceID, "query": map[string]any{"source-table": 7}}
	}
	qt := "query"
	if q.Native {
		qt = "native"
	}
	return map[string]any{
		"id": q.ID, "name": q.Name, "archived": q.Archived, "database_id": q.DataSourceID,
		"query_type": qt, "dataset_query": dq, "display": "table", "collection_id": nil,
		"updated_at": q.UpdatedAt.Format("2006-01-02T15:04:05.000Z"),
	}
}

func (m *Metabase) list(w http.ResponseWriter, req *http.Request) {
	if m.injected(w, req, 0) {
		return
	}
	f := req.URL.Query().Get("f")
	if f != "" && f != "all" && f != "archived" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"errors": map[string]string{"f": "fake Metabase handles only f=all and f=archived"}})
		return
	}
	m.mu.Lock()
	ids := make([]int, 0, len(m.queries))
	for id, q := range m.queries {
		if q.Archived == (f == "archived") {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	out := make([]map[string]any, len(ids))
	for i, id := range ids {
		out[i] = cardJSON(m.queries[id])
	}
	m.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

func (m *Metabase) get(w http.ResponseWriter, req *http.Request) {
	id, err := strconv.Atoi(req.PathValue("id"))
	if err != nil {
		notFound(w)
		return
	}
	if m.injected(w, req, id) {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	q, ok := m.queries[id]
	if !ok {
		notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, cardJSON(q))
}

func (m *Metabase) update(w http.ResponseWriter, req *http.Request) {
	id, err := strconv.Atoi(req.PathValue("id"))
	if err != nil {
		notFound(w)
		return
	}
	if m.injected(w, req, id) {
		return
	}
	var body struct {
		DatasetQuery *struct {
			Type     string `json:"type"`
			Database int    `json:"database"`
			Native   *struct {
				Query        *string        `json:"query"`
				TemplateTags map[string]any `json:"template-tags"`
			} `json:"native"`
		} `json:"dataset_query"`
	}
	if err := json.NewDecoder(req.Body).Decode(&body); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"message": "malformed JSON: " + err.Error()})
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	q, ok := m.queries[id]
	if !ok {
		notFound(w)
		return
	}
	dq := body.DatasetQuery
	if dq == nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"errors": map[string]string{"dataset_query": "fake Metabase expects dataset_query"}})
		return
	}
	if dq.Type != "native" || dq.Native == nil || dq.Native.Query == nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"errors": map[string]string{"dataset_query": "value must be a native query with native.query"}})
		return
	}
	if !m.dataSource(dq.Database) {
		writeJSON(w, http.StatusBadRequest, map[string]any{"errors": map[string]string{"database": "no database with that id"}})
		return
	}
	q.SQL = *dq.Native.Query
	q.DataSourceID = dq.Database
	q.TemplateTags = dq.Native.TemplateTags
	q.Native = true
	q.Version++
	q.UpdatedAt = m.tick()
	writeJSON(w, http.StatusOK, cardJSON(q))
}

func (m *Metabase) listDatabases(w http.ResponseWriter, req *http.Request) {
	if m.injected(w, req, 0) {
		return
	}
	out := make([]map[string]any, len(m.dataSources))
	for i, d := range m.dataSources {
		out[i] = map[string]any{"id": d.ID, "name": d.Name, "engine": d.Type}
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": out, "total": len(out)})
}
