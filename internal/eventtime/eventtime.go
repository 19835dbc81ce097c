// Package eventtime reads an event's time from one of its fields.
package eventtime

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/beametrics/beametrics/internal/event"
)

// Format says how a time field is written.
type Format string

const (
	// Auto accepts every format below: RFC 3339 strings, the fluentd dummy
	// record's "2025-02-07 15:12:43 UTC", and numbers (or numeric strings) of
	// Unix seconds, milliseconds, microseconds or nanoseconds told apart by
	// magnitude.
	Auto        Format = "auto"
	RFC3339     Format = "rfc3339"
	UTCSpace    Format = "utc_space" // 2025-02-07 15:12:43 UTC
	UnixSeconds Format = "unix_seconds"
	UnixMillis  Format = "unix_millis"
)

// Formats lists the accepted format names.
func Formats() []string {
	return []string{string(Auto), string(RFC3339), string(UTCSpace), string(UnixSeconds), string(UnixMillis)}
}

// ParseFormat checks a format name; "" means Auto.
func ParseFormat(s string) (Format, error) {
	if s == "" {
		return Auto, nil
	}
	for _, f := range Formats() {
		if strings.EqualFold(s, f) {
			return Format(f), nil
		}
	}
	return "", fmt.Errorf("unknown event time format %q (known: %s)", s, strings.Join(Formats(), ", "))
}

const utcSpaceLayout = "2006-01-02 15:04:05 UTC"

var (
	errMissing = errors.New("event time field is missing or null")
	errType    = errors.New("event time field is neither a string nor a number")
	errRange   = errors.New("event time is out of range")
)

// Parser parses event times, remembering the date and minute of
// the last one: records mostly come in time order, so most share them. It
// is not safe for concurrent use.
type Parser struct {
	minute minuteCache
}

// Parse returns the time in v as Unix nanoseconds.
func (p *Parser) Parse(v event.Value, f Format) (int64, error) {
	return parse(v, f, &p.minute)
}

func parse(v event.Value, f Format, m *minuteCache) (int64, error) {
	switch v.Kind() {
	case event.Missing, event.Null:
		return 0, errMissing
	case event.Number:
		n, _ := v.Num()
		return fromNumber(n, f)
	case event.String:
		return parseString(v.Str(), f, m)
	}
	return 0, errType
}

func parseString(b []byte, f Format, m *minuteCache) (int64, error) {
	s := unsafe.String(unsafe.SliceData(b), len(b))
	switch f {
	case UnixSeconds, UnixMillis:
		n, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, fmt.Errorf("event time %q is not a number", s)
		}
		return fromNumber(n, f)
	case RFC3339:
		if ns, ok := parseRFC3339(b, m); ok {
			return ns, nil
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return 0, fmt.Errorf("event time %q is not RFC 3339", s)
		}
		return nanos(t)
	case UTCSpace:
		t, err := time.Parse(utcSpaceLayout, s)
		if err != nil {
			return 0, fmt.Errorf("event time %q is not like %q", s, utcSpaceLayout)
		}
		return nanos(t)
	}
	if ns, ok := parseRFC3339(b, m); ok {
		return ns, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return nanos(t)
	}
	if t, err := time.Parse(utcSpaceLayout, s); err == nil {
		return nanos(t)
	}
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		return fromNumber(n, Auto)
	}
	return 0, fmt.Errorf("event time %q is not RFC 3339, %q, or a Unix time", s, utcSpaceLayout)
}

// fromNumber converts a Unix time. In Auto, the unit follows from the
// magnitude: below 1e11 seconds (until the year 5138), below 1e14
// milliseconds, below 1e17 microseconds, else nanoseconds.
func fromNumber(n float64, f Format) (int64, error) {
	if math.IsNaN(n) || math.IsInf(n, 0) || n < 0 {
		return 0, errRange
	}
	var scale float64
	switch f {
	case UnixSeconds:
		scale = 1e9
	case UnixMillis:
		scale = 1e6
	default:
		switch {
		case n < 1e11:
			scale = 1e9
		case n < 1e14:
			scale = 1e6
		case n < 1e17:
			scale = 1e3
		default:
			scale = 1
		}
	}
	ns := n * scale
	// float64(math.MaxInt64) is 2^63, which int64 cannot hold.
	if ns >= math.MaxInt64 {
		return 0, errRange
	}
	// A float64 holds nanoseconds of today only to about 256 ns, so whole
	// numbers are scaled exactly in integers: 1738941163001 ms must give
	// ...43.001000000, not ...43.000999936.
	if n == math.Trunc(n) && n < 1<<53 {
		return int64(n) * int64(scale), nil
	}
	return int64(ns), nil
}

// Unix nanoseconds cover 1970 to 2262 here (times before the epoch are
// refused like negative numbers); beyond that UnixNano would wrap.
var maxTime = time.Unix(0, math.MaxInt64)

func nanos(t time.Time) (int64, error) {
	if t.Before(time.Unix(0, 0)) || t.After(maxTime) {
		return 0, errRange
	}
	return t.UnixNano(), nil
}
