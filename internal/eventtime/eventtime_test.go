package eventtime_test

import (
	"strings"
	"testing"
	"time"

	"github.com/beametrics/beametrics/internal/event"
	"github.com/beametrics/beametrics/internal/eventtime"
)

func value(t *testing.T, json string) event.Value {
	t.Helper()
	var r event.Reader
	if err := r.Parse([]byte(`{"t":`+json+`}`), nil); err != nil {
		t.Fatalf("Parse(%s): %v", json, err)
	}
	p := mustPath(t, "t")
	return r.Lookup(&p)
}

func TestParse(t *testing.T) {
	ref := time.Date(2025, 2, 7, 15, 12, 43, 0, time.UTC)
	for _, tc := range []struct {
		json   string
		format eventtime.Format
		want   time.Time
	}{
		{`"2025-02-07T15:12:43Z"`, eventtime.Auto, ref},
		{`"2025-02-07T15:12:43.250Z"`, eventtime.Auto, ref.Add(250 * time.Millisecond)},
		{`"2025-02-07T16:12:43+01:00"`, eventtime.Auto, ref},
		{`"2025-02-07T15:12:43.123456789Z"`, eventtime.Auto, ref.Add(123456789)},
		{`"2025-02-07 15:12:43 UTC"`, eventtime.Auto, ref},
		{`1738941163`, eventtime.Auto, ref},                               // seconds
		{`1738941163.5`, eventtime.Auto, ref.Add(500 * time.Millisecond)}, // fractional seconds
		{`1738941163000`, eventtime.Auto, ref},                            // milliseconds
		{`1738941163250`, eventtime.Auto, ref.Add(250 * time.Millisecond)},
		{`1738941163000000`, eventtime.Auto, ref},    // microseconds
		{`1738941163000000000`, eventtime.Auto, ref}, // nanoseconds
		{`"1738941163"`, eventtime.Auto, ref},        // numeric strings
		{`"1738941163000"`, eventtime.Auto, ref},
		{`0`, eventtime.Auto, time.Unix(0, 0)},
		{`9000000000`, eventtime.Auto, time.Unix(9000000000, 0)},  // year 2255: still seconds
		{`100000000000`, eventtime.Auto, time.Unix(100000000, 0)}, // 1e11: milliseconds
		{`"2025-02-07T15:12:43Z"`, eventtime.RFC3339, ref},
		{`"2025-02-07 15:12:43 UTC"`, eventtime.UTCSpace, ref},
		{`1738941163`, eventtime.UnixSeconds, ref},
		{`"1738941163"`, eventtime.UnixSeconds, ref},
		{`1738941163000`, eventtime.UnixMillis, ref},
		{`1738941163`, eventtime.UnixMillis, time.UnixMilli(1738941163)}, // the format decides, not the size
		{`1738941163001`, eventtime.Auto, time.UnixMilli(1738941163001)}, // exact to the nanosecond
		{`1738941163003`, eventtime.UnixMillis, time.UnixMilli(1738941163003)},
		{`"1738941163007"`, eventtime.Auto, time.UnixMilli(1738941163007)},
		{`1738941163000001`, eventtime.Auto, time.UnixMicro(1738941163000001)},
	} {
		got, err := new(eventtime.Parser).Parse(value(t, tc.json), tc.format)
		if err != nil {
			t.Errorf("Parse(%s, %s): %v", tc.json, tc.format, err)
			continue
		}
		if got != tc.want.UnixNano() {
			t.Errorf("Parse(%s, %s) = %v, want %v", tc.json, tc.format, time.Unix(0, got).UTC(), tc.want.UTC())
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		json   string
		format eventtime.Format
		msg    string
	}{
		{`null`, eventtime.Auto, "missing or null"},
		{`true`, eventtime.Auto, "neither a string nor a number"},
		{`{"a":1}`, eventtime.Auto, "neither a string nor a number"},
		{`[1]`, eventtime.Auto, "neither a string nor a number"},
		{`"yesterday"`, eventtime.Auto, "is not RFC 3339"},
		{`""`, eventtime.Auto, "is not RFC 3339"},
		{`"2025-02-07"`, eventtime.Auto, "is not RFC 3339"},
		{`"2025-02-07 15:12:43 UTC"`, eventtime.RFC3339, "is not RFC 3339"},
		{`"2025-02-07T15:12:43Z"`, eventtime.UTCSpace, "is not like"},
		{`"2025-02-07T15:12:43Z"`, eventtime.UnixSeconds, "is not a number"},
		{`"abc"`, eventtime.UnixMillis, "is not a number"},
		{`-1`, eventtime.Auto, "out of range"},
		{`1e300`, eventtime.UnixSeconds, "out of range"},
		{`1e30`, eventtime.Auto, "out of range"},
		{`1738941163000`, eventtime.UnixSeconds, "out of range"}, // past the year 2262 in nanoseconds
		{`99999999999`, eventtime.Auto, "out of range"},
		{`9223372036854775807`, eventtime.Auto, "out of range"}, // rounds to 2^63 nanoseconds
		{`9223372036854775808`, eventtime.Auto, "out of range"},
		{`"-5"`, eventtime.Auto, "out of range"},
	} {
		_, err := new(eventtime.Parser).Parse(value(t, tc.json), tc.format)
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("Parse(%s, %s) = %v, want an error saying %q", tc.json, tc.format, err, tc.msg)
		}
	}
	var r event.Reader
	_ = r.Parse([]byte(`{}`), nil)
	p := mustPath(t, "t")
	if _, err := new(eventtime.Parser).Parse(r.Lookup(&p), eventtime.Auto); err == nil {
		t.Error("a missing field parsed")
	}
}

func TestParseFormat(t *testing.T) {
	for in, want := range map[string]eventtime.Format{
		"": eventtime.Auto, "auto": eventtime.Auto, "RFC3339": eventtime.RFC3339, "utc_space": eventtime.UTCSpace,
		"Unix_Seconds": eventtime.UnixSeconds, "unix_millis": eventtime.UnixMillis,
	} {
		got, err := eventtime.ParseFormat(in)
		if err != nil || got != want {
			t.Errorf("ParseFormat(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"iso", "unix", "millis", " auto"} {
		if _, err := eventtime.ParseFormat(in); err == nil || !strings.Contains(err.Error(), "rfc3339") {
			t.Errorf("ParseFormat(%q) = %v, want an error listing the formats", in, err)
		}
	}
}

func TestParseDoesNotAllocate(t *testing.T) {
	var r event.Reader
	_ = r.Parse([]byte(`{"t":"2025-11-24T16:00:00.123Z","n":1738941163000}`), nil)
	pt, pn := mustPath(t, "t"), mustPath(t, "n")
	var p eventtime.Parser
	if n := testing.AllocsPerRun(100, func() {
		_, _ = p.Parse(r.Lookup(&pt), eventtime.Auto)
		_, _ = p.Parse(r.Lookup(&pn), eventtime.Auto)
	}); n != 0 {
		t.Errorf("Parse allocates %v times", n)
	}
}

func mustPath(t testing.TB, s string) event.Path {
	t.Helper()
	p, err := event.ParsePath(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
