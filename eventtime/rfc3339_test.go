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
	for i := 0; i < 20000; i++ {
		at := time.Unix(r.Int64N(8_000_000_000), r.Int64N(1e9))
		zone := time.FixedZone("", (r.IntN(29)-14)*1800)
		if r.IntN(3) == 0 {
			zone = time.UTC
		}
		s := at.In(zone).Format(layouts[r.IntN(len(layouts))])
		want, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		got, ok := parseRFC3339([]byte(s))
		if !ok || got != want.UnixNano() {
			t.Fatalf("parseRFC3339(%s) = %d, %v; want %d", s, got, ok, want.UnixNano())
		}
	}
	for _, s := range []string{
		"2025-02-30T00:00:00Z", "2025-13-01T00:00:00Z", "2025-11-24T24:00:00Z", "2025-11-24 16:00:00Z",
		"2025-11-24T16:00:00", "2025-11-24T16:00:00.Z", "2025-11-24T16:00:00+0100", "1969-12-31T23:59:59Z",
		"2025-11-24T16:00:60Z", "x025-11-24T16:00:00Z",
	} {
		if ns, ok := parseRFC3339([]byte(s)); ok {
			t.Errorf("parseRFC3339(%q) = %d, want it left to time.Parse", s, ns)
		}
	}
}

func BenchmarkParseRFC3339(b *testing.B) {
	s := []byte("2025-11-24T16:00:01.123Z")
	for i := 0; i < b.N; i++ {
		if _, ok := parseRFC3339(s); !ok {
			b.Fatal("not parsed")
		}
	}
}
