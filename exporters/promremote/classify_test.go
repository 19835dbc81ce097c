package promremote

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/beametrics/beametrics/exporters"
	"github.com/beametrics/beametrics/internal/testing/hang"
)

// A write that fails without an HTTP answer is coded by what happened to
// its last attempt: a server that never answers is a timeout, a port where
// nothing listens is a network error.
func TestFailuresWithoutAnAnswer(t *testing.T) {
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedURL := "http://" + closed.Addr().String()
	closed.Close()
	cases := []struct {
		name string
		url  string
		code string
	}{
		{"hanging server", hang.Start(t).URL, "timeout"},
		{"connection refused", refusedURL, "network"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, err := New(exporters.RemoteWriteSettings{URL: c.url, MaxRetries: 1, Timeout: 200 * time.Millisecond},
				Options{BackoffMin: time.Millisecond, BackoffMax: 5 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			e.Start(context.Background(), testMetrics)
			pts := windowPoints(time.Unix(0, 0), time.Unix(60, 0), time.Unix(120, 0))
			var ee *exporters.ExportError
			if err := e.Export(context.Background(), pts); !errors.As(err, &ee) || len(ee.Failed) != len(pts) {
				t.Fatalf("want all %d points failed, got %v", len(pts), err)
			}
			for _, f := range ee.Failed {
				if f.Code != c.code {
					t.Errorf("code %s (reason %q), want %s", f.Code, f.Reason, c.code)
				}
			}
		})
	}
}
