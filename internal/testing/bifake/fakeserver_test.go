package bifake

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

const key = "fake-key-123"

func do(t *testing.T, method, url, header, value, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if header != "" {
		req.Header.Set(header, value)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestRedashAuth(t *testing.T) {
	r := NewRedash(key)
	defer r.Close()
	r.Seed(Generate(3, 0))
	for _, h := range [][2]string{{"", ""}, {"Authorization", "Key wrong"}, {"Authorization", key}, {"X-API-KEY", key}} {
		code, body := do(t, "GET", r.URL()+"/api/queries/1", h[0], h[1], "")
		if code != http.StatusNotFound || !strings.Contains(body, "Please login") {
			t.Errorf("auth %q: got %d %s, want 404 with Redash's login message", h, code, body)
		}
	}
	if code, _ := do(t, "GET", r.URL()+"/api/queries/1", "Authorization", "Key "+key, ""); code != 200 {
		t.Errorf("right key: got %d", code)
	}
}

func TestRedashPagination(t *testing.T) {
	r := NewRedash(key)
	defer r.Close()
	r.Seed(Generate(600, 0))
	cases := []struct {
		query    string
		status   int
		contains string
	}{
		{"page=1&page_size=250", 200, `"count":600`},
		{"page=3&page_size=250", 200, `"page":3`},
		{"page=4&page_size=250", 400, "Page is out of range."},
		{"page=0&page_size=250", 400, "Page must be positive integer."},
		{"page=1&page_size=251", 400, "Page size is out of range (1-250)."},
		{"page=1&page_size=0", 400, "Page size is out of range (1-250)."},
		{"page=x", 400, "integer"},
	}
	for _, c := range cases {
		code, body := do(t, "GET", r.URL()+"/api/queries?"+c.query, "Authorization", "Key "+key, "")
		if code != c.status || !strings.Contains(body, c.contains) {
			t.Errorf("%s: got %d %.200s, want %d containing %q", c.query, code, body, c.status, c.contains)
		}
	}
	_, body := do(t, "GET", r.URL()+"/api/queries?page=3&page_size=250", "Authorization", "Key "+key, "")
	var p struct{ Results []struct{ ID int } }
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Results) != 100 || p.Results[0].ID != 501 {
		t.Errorf("page 3 of 600: got %d results starting at %v, want 100 starting at 501", len(p.Results), p.Results)
	}
}

func TestRedashVersionConflict(t *testing.T) {
	r := NewRedash(key)
	defer r.Close()
	r.Seed(Generate(2, 0))
	auth := "Key " + key
	if code, body := do(t, "POST", r.URL()+"/api/queries/1", "Authorization", auth, `{"query":"SELECT 2","version":1}`); code != 200 || !strings.Contains(body, `"version":2`) {
		t.Fatalf("first write: %d %s", code, body)
	}
	if code, _ := do(t, "POST", r.URL()+"/api/queries/1", "Authorization", auth, `{"query":"SELECT 3","version":1}`); code != http.StatusConflict {
		t.Fatalf("stale version: got %d, want 409", code)
	}
	if q, _ := r.Query(1); q.SQL != "SELECT 2" {
		t.Errorf("stale write changed the query to %q", q.SQL)
	}
	if code, _ := do(t, "POST", r.URL()+"/api/queries/1", "Authorization", auth, `{"data_source_id":99,"version":2}`); code != http.StatusNotFound {
		t.Errorf("unknown data source: got %d, want 404", code)
	}
	if code, _ := do(t, "POST", r.URL()+"/api/queries/1", "Authorization", auth, `{"bogus":1}`); code != http.StatusBadRequest {
		t.Errorf("unknown field: got %d, want 400", code)
	}
}

func TestRedashFaults(t *testing.T) {
	r := NewRedash(key)
	defer r.Close()
	r.Seed(Generate(2, 0))
	r.SetFault(func(method, path string, id int) *Fault {
		if id == 2 {
			return &Fault{Status: 503}
		}
		return nil
	})
	if code, _ := do(t, "GET", r.URL()+"/api/queries/2", "Authorization", "Key "+key, ""); code != 503 {
		t.Errorf("injected: got %d", code)
	}
	if code, _ := do(t, "GET", r.URL()+"/api/queries/1", "Authorization", "Key "+key, ""); code != 200 {
		t.Errorf("not injected: got %d", code)
	}
}

func TestMetabase(t *testing.T) {
	m := NewMetabase(key)
	defer m.Close()
	m.Seed(Generate(100, 10))
	if code, body := do(t, "GET", m.URL()+"/api/card", "X-API-KEY", "wrong", ""); code != 401 || body != "Unauthenticated" {
		t.Errorf("wrong key: %d %q", code, body)
	}
	code, body := do(t, "GET", m.URL()+"/api/card?f=archived", "X-API-KEY", key, "")
	var cards []map[string]any
	if err := json.Unmarshal([]byte(body), &cards); code != 200 || err != nil || len(cards) != 10 {
		t.Fatalf("archived cards: %d, %v, %d cards", code, err, len(cards))
	}
	if code, _ := do(t, "PUT", m.URL()+"/api/card/1", "X-API-KEY", key, `{"dataset_query":{"type":"query","database":1}}`); code != 400 {
		t.Errorf("non-native write: got %d, want 400", code)
	}
	if code, _ := do(t, "PUT", m.URL()+"/api/card/1", "X-API-KEY", key, `{"dataset_query":{"type":"native","database":9,"native":{"query":"x"}}}`); code != 400 {
		t.Errorf("unknown database: got %d, want 400", code)
	}
	if code, _ := do(t, "GET", m.URL()+"/api/card/100000", "X-API-KEY", key, ""); code != 404 {
		t.Errorf("missing card: got %d, want 404", code)
	}
}
