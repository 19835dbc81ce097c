package cli

import (
	"context"
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/beametrics/beametrics/internal/testing/bifake"
)

func TestRateDefaultsPerProvider(t *testing.T) {
	cases := []struct {
		provider string
		args     []string
		want     float64
	}{
		{"redash", nil, 500},
		{"metabase", nil, 1000},
		{"metabase", []string{"--rate", "0"}, 0},
		{"metabase", []string{"--rate", "200"}, 200},
		{"redash", []string{"--rate", "1000"}, 1000},
	}
	for _, c := range cases {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var conn connFlags
		conn.register(fs)
		if err := fs.Parse(c.args); err != nil {
			t.Fatal(err)
		}
		if got := conn.rateFor(c.provider); got != c.want {
			t.Errorf("%s %v: rate %v, want %v", c.provider, c.args, got, c.want)
		}
	}
}

// The Metabase default still limits: a token bucket holding --concurrency
// tokens and refilled at 1000 per second cannot serve n requests in less
// than (n - concurrency) / 1000 seconds.
func TestMetabaseDefaultRateLimits(t *testing.T) {
	srv, _ := seeded(t, bifake.NewMetabase(testKey), 600, 0)
	start := time.Now()
	r := runBI(t, context.Background(), "metabase", srv.URL(), "query", "update", "--apply", "--yes", "--backup-dir", t.TempDir(),
		"--query-regexp", `analytics\.events_v1`, "--query-replace", "analytics.events_v1", "analytics.events_v2")
	elapsed := time.Since(start)
	if r.code != 0 || !strings.Contains(r.stdout, "summary: 588 changed, 0 failed") {
		t.Fatalf("exit %d:\n%.500s\n%s", r.code, r.stdout, r.stderr)
	}
	reads, writes := srv.Requests()
	if reads != 589 || writes != 588 {
		t.Errorf("%d reads and %d writes, want 1 list + 588 re-reads and 588 writes", reads, writes)
	}
	floor := time.Duration(float64(reads+writes-DefaultConcurrency) / DefaultRateMetabase * float64(time.Second))
	if elapsed < floor {
		t.Errorf("%d requests took %v, less than the %v the default rate allows", reads+writes, elapsed, floor)
	}
}
