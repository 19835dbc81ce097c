package bifake

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// Redash is a fake Redash server. The behaviour follows Redash's API:
// "Authorization: Key KEY" (an unknown key gets 404 with Redash's "please
// login" message), page/page_size with page_size 1..250, 400 for a page past
// the end, POST with "version" answered 409 when the query has moved on.
type Redash struct {
	*store
}

// Redash's own error texts.
const (
	redashLoginMessage    = "Couldn't find resource. Please login and try again."
	redashConflictMessage = "The request could not be completed due to a conflict with the current state of the target resource."
)

// NewRedash starts a fake Redash accepting apiKey.
func NewRedash(apiKey string) *Redash {
	r := &Redash{store: newStore(apiKey, redashNotFound, redashJSON)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/queries", func(w http.ResponseWriter, req *http.Request) { r.list(w, req, false) })
	mux.HandleFunc("GET /api/queries/archive", func(w http.ResponseWriter, req *http.Request) { r.list(w, req, true) })
	mux.HandleFunc("GET /api/queries/{id}", r.get)
	mux.HandleFunc("POST /api/queries/{id}", r.update)
	mux.HandleFunc("GET /api/data_sources", r.listDataSources)
	r.serve(mux, "Authorization", "Key "+apiKey, func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": redashLoginMessage})
	})
	return r
}

// redashNotFound is Redash's answer for a path id that is not a number
// (its router's) or for an unknown query.
func redashNotFound(w http.ResponseWriter, malformed bool) {
	msg := "Query not found"
	if malformed {
		msg = "Not found"
	}
	writeJSON(w, http.StatusNotFound, map[string]string{"message": msg})
}

func redashJSON(q *Query) map[string]any {
	tags := q.Tags
	if tags == nil {
		tags = []string{}
	}
	return map[string]any{
		"id": q.ID, "name": q.Name, "description": nil, "query": q.SQL,
		"data_source_id": q.DataSourceID, "tags": tags, "is_archived": q.Archived,
		"is_draft": false, "version": q.Version, "schedule": nil, "options": map[string]any{},
		"updated_at": q.UpdatedAt.Format("2006-01-02T15:04:05.000000Z"),
		"created_at": "2025-06-01T00:00:00.000000Z",
	}
}

func (r *Redash) list(w http.ResponseWriter, req *http.Request, archived bool) {
	if r.injected(w, req, 0) {
		return
	}
	page, size := 1, 25
	var err error
	if v := req.URL.Query().Get("page"); v != "" {
		if page, err = strconv.Atoi(v); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"message": "page must be an integer"})
			return
		}
	}
	if v := req.URL.Query().Get("page_size"); v != "" {
		if size, err = strconv.Atoi(v); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"message": "page_size must be an integer"})
			return
		}
	}
	if page < 1 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "Page must be positive integer."})
		return
	}
	if size < 1 || size > 250 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "Page size is out of range (1-250)."})
		return
	}
	r.mu.Lock()
	ids := r.sortedIDs(archived)
	from := min((page-1)*size, len(ids))
	to := min(from+size, len(ids))
	results := make([]map[string]any, 0, to-from)
	for _, id := range ids[from:to] {
		results = append(results, redashJSON(r.queries[id]))
	}
	r.mu.Unlock()
	if page > 1 && len(results) == 0 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "Page is out of range."})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"count": len(ids), "page": page, "page_size": size, "results": results})
}

func (r *Redash) update(w http.ResponseWriter, req *http.Request) {
	id, ok := r.target(w, req)
	if !ok {
		return
	}
	var body map[string]json.RawMessage
	if err := json.NewDecoder(req.Body).Decode(&body); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "Failed to decode JSON object: " + err.Error()})
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	q, found := r.find(w, id)
	if !found {
		return
	}
	if raw, has := body["version"]; has {
		var v int
		if err := json.Unmarshal(raw, &v); err != nil || v != q.Version {
			writeJSON(w, http.StatusConflict, map[string]string{"message": redashConflictMessage})
			return
		}
	}
	next := *q
	for k, raw := range body {
		var err error
		switch k {
		case "version", "id", "created_at", "api_key", "user", "last_modified_by":
			// Redash drops these from an update.
		case "query":
			err = json.Unmarshal(raw, &next.SQL)
		case "name":
			err = json.Unmarshal(raw, &next.Name)
		case "data_source_id":
			if err = json.Unmarshal(raw, &next.DataSourceID); err == nil && !r.dataSource(next.DataSourceID) {
				writeJSON(w, http.StatusNotFound, map[string]string{"message": "Data source not found"})
				return
			}
		default:
			writeJSON(w, http.StatusBadRequest, map[string]string{"message": "fake Redash does not handle field " + strings.TrimSpace(k)})
			return
		}
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"message": "bad value for " + k + ": " + err.Error()})
			return
		}
	}
	*q = next
	r.saved(w, q)
}

func (r *Redash) listDataSources(w http.ResponseWriter, req *http.Request) {
	if r.injected(w, req, 0) {
		return
	}
	out := make([]map[string]any, len(r.dataSources))
	for i, d := range r.dataSources {
		out[i] = map[string]any{"id": d.ID, "name": d.Name, "type": d.Type, "syntax": "sql", "paused": 0, "view_only": false}
	}
	writeJSON(w, http.StatusOK, out)
}
