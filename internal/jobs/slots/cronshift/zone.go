package cronshift

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// LoadZone reads a DAG's time zone: an IANA name ("Asia/Tokyo"), the
// Timezone('Asia/Tokyo') spelling Airflow's DAG details show, or the whole
// seconds east of UTC a serialized DAG holds for a fixed-offset zone
// (then named "+05:30", which is read back too). Empty is UTC.
func LoadZone(name string) (*time.Location, error) {
	n := strings.TrimSpace(name)
	if inner, ok := strings.CutPrefix(n, "Timezone("); ok {
		n = strings.Trim(strings.TrimSuffix(inner, ")"), `'"`)
	}
	if n == "" {
		return time.UTC, nil
	}
	if sec, err := strconv.Atoi(n); err == nil && sec > -86400 && sec < 86400 {
		return time.FixedZone(OffsetName(sec/60), sec), nil
	}
	// The name such a zone is written back under, "+05:30".
	if t, err := time.Parse("-07:00", n); err == nil && (n[0] == '+' || n[0] == '-') {
		_, sec := t.Zone()
		return time.FixedZone(n, sec), nil
	}
	loc, err := time.LoadLocation(n)
	if err != nil {
		return nil, fmt.Errorf("time zone %q: %w", name, err)
	}
	return loc, nil
}

// Offset is loc's distance from UTC at t, in minutes (Asia/Tokyo: +540):
// a wall-clock minute of the day m in loc is UTC minute m − Offset.
func Offset(loc *time.Location, t time.Time) int {
	_, sec := t.In(loc).Zone()
	return sec / 60
}

// NextOffsetChange returns the first time within a year after t at which
// loc's offset from UTC changes (daylight saving time), and the new offset.
func NextOffsetChange(loc *time.Location, t time.Time) (at time.Time, offset int, ok bool) {
	_, end := t.In(loc).ZoneBounds()
	if end.IsZero() || end.After(t.AddDate(1, 0, 0)) {
		return time.Time{}, 0, false
	}
	return end, Offset(loc, end), true
}

// OddWallTimes lists, for each of the given wall-clock minutes of the day
// in loc, the first date within a year after t on which it does not exist
// (the clocks skip it) or happens twice (the clocks go back over it).
func OddWallTimes(loc *time.Location, minutes []int, t time.Time) []string {
	var out []string
	for _, m := range minutes {
		h, mm := m/60, m%60
		day := t.In(loc)
		for d := 0; d <= 366; d++ {
			y, mo, dd := day.AddDate(0, 0, d).Date()
			w := time.Date(y, mo, dd, h, mm, 0, 0, loc)
			if w.Hour() != h || w.Minute() != mm {
				out = append(out, fmt.Sprintf("%02d:%02d does not exist on %d-%02d-%02d (the clocks skip it)", h, mm, y, mo, dd))
				break
			}
			if twice(w) {
				out = append(out, fmt.Sprintf("%02d:%02d happens twice on %d-%02d-%02d (the clocks go back over it)", h, mm, y, mo, dd))
				break
			}
		}
	}
	return out
}

// twice reports whether w's wall clock also reads the same a little later
// or earlier, after the clocks went back.
func twice(w time.Time) bool {
	_, before := w.Add(-12 * time.Hour).Zone()
	_, after := w.Add(12 * time.Hour).Zone()
	if before == after {
		return false
	}
	gap := time.Duration(before-after) * time.Second
	if gap < 0 {
		gap = -gap
	}
	for _, o := range []time.Time{w.Add(gap), w.Add(-gap)} {
		if o.Hour() == w.Hour() && o.Minute() == w.Minute() {
			return true
		}
	}
	return false
}

// offsetName writes an offset in minutes as "+09:00".
func OffsetName(off int) string {
	sign := '+'
	if off < 0 {
		sign, off = '-', -off
	}
	return fmt.Sprintf("%c%02d:%02d", sign, off/60, off%60)
}
