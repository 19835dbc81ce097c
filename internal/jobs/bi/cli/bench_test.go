package cli

import (
	"context"
	"strings"
	"testing"

	"github.com/beametrics/beametrics/internal/testing/bifake"
)

// benchmarkRewrite20000 lists and rewrites 20,000 queries against a fake
// server, with backups written, at the default --rate and --concurrency
// unless extra flags say otherwise.
func benchmarkRewrite20000(b *testing.B, provider string, extra ...string) {
	for b.Loop() {
		b.StopTimer()
		var url string
		var closeFn func()
		var check func(id int) string
		if provider == "redash" {
			s := bifake.NewRedash(testKey)
			s.Seed(bifake.Generate(20000, 0))
			url, closeFn = s.URL(), s.Close
			check = func(id int) string { q, _ := s.Query(id); return q.SQL }
		} else {
			s := bifake.NewMetabase(testKey)
			qs := bifake.Generate(20000, 0)
			for i := range qs {
				qs[i].Native = true
			}
			s.Seed(qs)
			url, closeFn = s.URL(), s.Close
			check = func(id int) string { q, _ := s.Query(id); return q.SQL }
		}
		dir := b.TempDir()
		b.StartTimer()
		args := append([]string{"query", "update", "--apply", "--yes", "--backup-dir", dir,
			"--query-regexp", `analytics\.events_v1`, "--query-replace", "analytics.events_v1", "analytics.events_v2"}, extra...)
		r := runBI(b, context.Background(), provider, url, args...)
		b.StopTimer()
		if r.code != 0 || !strings.Contains(r.stdout, "summary: 20000 changed, 0 failed") {
			b.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		if !strings.Contains(check(20000), "analytics.events_v2") {
			b.Fatal("query 20000 was not rewritten")
		}
		closeFn()
		b.StartTimer()
	}
}

func BenchmarkRewrite20000Redash(b *testing.B)   { benchmarkRewrite20000(b, "redash") }
func BenchmarkRewrite20000Metabase(b *testing.B) { benchmarkRewrite20000(b, "metabase") }

// The no-limit variants measure the client's and the fake's own cost, what
// the default rate leaves of a run's time.
func BenchmarkRewrite20000RedashNoRateLimit(b *testing.B) {
	benchmarkRewrite20000(b, "redash", "--rate", "0")
}
func BenchmarkRewrite20000MetabaseNoRateLimit(b *testing.B) {
	benchmarkRewrite20000(b, "metabase", "--rate", "0")
}
