package bifake

import (
	"encoding/json"
	"net/http"
)

// Metabase is a fake Metabase server: X-API-KEY authentication (401
// "Unauthenticated" otherwise), GET /api/card with f=all|archived returning
// every card at once, PUT /api/card/ID validating the dataset_query, and
// GET /api/database. Metabase has no optimistic locking, and neither has
// this fake.
type Metabase struct {
	*store
}

// NewMetabase starts a fake Metabase accepting apiKey.
func NewMetabase(apiKey string) *Metabase {
	m := &Metabase{store: newStore(apiKey, metabaseNotFound, cardJSON)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/card", m.list)
	mux.HandleFunc("GET /api/card/{id}", m.get)
	mux.HandleFunc("PUT /api/card/{id}", m.update)
	mux.HandleFunc("GET /api/database", m.listDatabases)
	m.serve(mux, "X-API-KEY", apiKey, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte("Unauthenticated"))
	})
	return m
}

// metabaseNotFound is Metabase's answer for a missing card, whatever the id.
func metabaseNotFound(w http.ResponseWriter, _ bool) {
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
	ids := m.sortedIDs(f == "archived")
	out := make([]map[string]any, len(ids))
	for i, id := range ids {
		out[i] = cardJSON(m.queries[id])
	}
	m.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

func (m *Metabase) update(w http.ResponseWriter, req *http.Request) {
	id, ok := m.target(w, req)
	if !ok {
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
	q, found := m.find(w, id)
	if !found {
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
	m.saved(w, q)
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
