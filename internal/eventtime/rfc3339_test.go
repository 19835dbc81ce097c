package eventtime

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestParseRFC3339MatchesTimeParse compares the fast path with time.Parse
// on random instants, fractions and offsets, and on shapes it must leave to
// time.Parse.
func TestParseRFC3339MatchesTimeParse(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	layouts := []string{time.RFC3339, time.RFC3339Nano, "2006-01-02T15:04:05.000Z07:00", "2006-01-02T15:04:05.000000Z07:00"}
	// The cache sees runs of nearby times, as in a log, so that it is
	// both hit and missed (new minute, new offset, new day).
	var cache minuteCache
	for i := 0; i < 20000; i++ {
		at := time.Unix(r.Int64N(8_000_000_000), r.Int64N(1e9))
		zone := time.FixedZone("", (r.IntN(29)-14)*1800)
		if r.IntN(3) == 0 {
			zone = time.UTC
		}
		for run := r.IntN(4); run >= 0; run-- {
			at = at.Add(time.Duration(r.Int64N(int64(90 * time.Second))))
			if r.IntN(8) == 0 {
				zone = time.FixedZone("", (r.IntN(29)-14)*1800)
			}
			s := at.In(zone).Format(layouts[r.IntN(len(layouts))])
			want, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				t.Fatalf("%s: %v", s, err)
			}
			got, ok := parseRFC3339([]byte(s), new(minuteCache))
			cached, okCached := parseRFC3339([]byte(s), &cache)
			if !ok || got != want.UnixNano() || !okCached || cached != got {
				t.Fatalf("parseRFC3339(%s) = %d, %v (with the cache %d, %v); want %d", s, got, ok, cached, okCached, want.UnixNano())
			}
		}
	}
	for _, s := range []string{
		"2025-02-30T00:00:00Z", "2025-13-01T00:00:00Z", "2025-11-24T24:00:00Z", "2025-11-24 16:00:00Z",
		"2025-11-24T16:00:00", "2025-11-24T16:00:00.Z", "2025-11-24T16:00:00+0100", "1969-12-31T23:59:59Z",
		"2025-11-24T16:00:60Z", "x025-11-24T16:00:00Z",
	} {
		if ns, ok := parseRFC3339([]byte(s), new(minuteCache)); ok {
			t.Errorf("parseRFC3339(%q) = %d, want it left to time.Parse", s, ns)
		}
		// A cache filled by a good time of the same minute must not
		// make a bad one pass.
		var c minuteCache
		parseRFC3339([]byte(s[:16]+":00Z"), &c)
		if ns, ok := parseRFC3339([]byte(s), &c); ok {
			t.Errorf("parseRFC3339(%q) after %q = %d, want it left to time.Parse", s, s[:16]+":00Z", ns)
		}
	}
}

func BenchmarkParseRFC3339(b *testing.B) {
	s := []byte("2025-11-24T16:00:01.123Z")
	for i := 0; i < b.N; i++ {
		if _, ok := parseRFC3339(s, new(minuteCache)); !ok {
			b.Fatal("not parsed")
		}
	}
}
