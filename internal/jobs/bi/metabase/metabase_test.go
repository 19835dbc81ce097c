package metabase

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/beametrics/beametrics/internal/jobs/bi"
	"github.com/beametrics/beametrics/internal/jobs/bi/httpapi"
)

func TestMalformedCardsAreReportedNotDropped(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`[
			{"id":1,"name":"ok","dataset_query":{"type":"native","database":1,"native":{"query":"SELECT 1"}}},
			{"id":2,"name":"number","dataset_query":{"type":"native","database":1,"native":{"query":42}}},
			{"id":3,"name":"none","dataset_query":{"type":"native","database":1,"native":{}}},
			{"id":4,"name":"gui","dataset_query":{"type":"query","database":1,"query":{}}}
		]`))
	}))
	defer srv.Close()
	c, err := New(httpapi.Options{BaseURL: srv.URL, Timeout: time.Second}, "k")
	if err != nil {
		t.Fatal(err)
	}
	left := map[int]string{}
	qs, err := c.List(context.Background(), bi.ListOptions{LeftOut: func(id int, reason string) { left[id] = reason }})
	if err != nil || len(qs) != 1 || qs[0].SQL != "SELECT 1" {
		t.Fatalf("got %v, %v", qs, err)
	}
	if !strings.Contains(left[2], "not a string") || !strings.Contains(left[3], "without dataset_query.native.query") || !strings.Contains(left[4], "query builder") {
		t.Errorf("left out: %v", left)
	}
	if _, err := c.List(context.Background(), bi.ListOptions{}); err == nil || !strings.Contains(err.Error(), "card 2") {
		t.Errorf("without LeftOut a malformed card must fail the listing: %v", err)
	}
}
