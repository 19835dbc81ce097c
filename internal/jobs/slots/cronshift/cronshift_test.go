package cronshift

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		expr    string
		runs    []int
		period  int
		movable bool
		dayRest bool
	}{
		{"0 2 * * *", []int{120}, 1440, true, false},
		{"@daily", []int{0}, 1440, true, false},
		{"@hourly", hourly(0), 60, true, false},
		{"15 * * * *", hourly(15), 60, true, false},
		{"0 */6 * * *", []int{0, 360, 720, 1080}, 360, true, false},
		{"30 3,9 * * *", []int{210, 570}, 1440, true, false},
		{"0 23 * * 1-5", []int{1380}, 1440, true, true},
		{"@weekly", []int{0}, 1440, true, true},
		{"0,30 9 * * *", []int{540, 570}, 1440, false, false},
	} {
		s, err := Parse(tc.expr)
		if err != nil {
			t.Fatalf("%s: %v", tc.expr, err)
		}
		if !reflect.DeepEqual(s.Runs, tc.runs) || s.Period() != tc.period || s.Movable != tc.movable || s.DayRestricted != tc.dayRest {
			t.Errorf("%s: runs %v period %d movable %v day-restricted %v", tc.expr, s.Runs, s.Period(), s.Movable, s.DayRestricted)
		}
	}
}

func hourly(m int) []int {
	var out []int
	for h := 0; h < 24; h++ {
		out = append(out, h*60+m)
	}
	return out
}

func TestParseRejects(t *testing.T) {
	for _, e := range []string{"", "None", "@once", "@continuous", "1 day, 0:00:00", "0 0 2 * * *", "61 * * * *", "CRON_TZ=UTC 0 2 * * *"} {
		if _, err := Parse(e); !errors.Is(err, ErrNotCron) {
			t.Errorf("%q: err %v, want ErrNotCron", e, err)
		}
	}
}

// TestShiftedRoundTrip writes the cron for every allowed anchor, parses it
// back with robfig/cron and checks that it starts the shifted runs.
func TestShiftedRoundTrip(t *testing.T) {
	for _, expr := range []string{"0 2 * * *", "15 * * * *", "0 */6 * * *", "30 3,9 * * *", "0 23 * * 1-5", "@daily", "@hourly", "@weekly", "45 1 1 * *", "0 */8 * * *"} {
		s, err := Parse(expr)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range s.Anchors() {
			got, err := s.Shifted(a)
			if err != nil {
				t.Fatalf("%s at %d: %v", expr, a, err)
			}
			back, err := Parse(got)
			if err != nil {
				t.Fatalf("%s at %d: %q does not parse back: %v", expr, a, got, err)
			}
			want := map[int]bool{}
			for _, o := range s.Offsets() {
				want[(a+o)%MinutesPerDay] = true
			}
			if len(back.Runs) != len(want) {
				t.Fatalf("%s at %d: %q runs %v", expr, a, got, back.Runs)
			}
			for _, m := range back.Runs {
				if !want[m] {
					t.Fatalf("%s at %d: %q runs %v, want %v", expr, a, got, back.Runs, want)
				}
			}
			if !reflect.DeepEqual(back.fields[2:], s.fields[2:]) {
				t.Fatalf("%s: day fields changed in %q", expr, got)
			}
		}
	}
}

func TestShiftedKeepsDays(t *testing.T) {
	s, _ := Parse("0 23 * * 1-5")
	got, err := s.Shifted(22*60 + 30)
	if err != nil || got != "30 22 * * 1-5" {
		t.Fatalf("got %q %v", got, err)
	}
	if _, err := s.Shifted(1440 + 30); err == nil {
		t.Fatal("a weekday schedule moved past midnight")
	}
	if n := len(s.Anchors()); n != 1440 {
		t.Fatalf("%d anchors, want 1440 (one run a day, kept within the day)", n)
	}
	h, _ := Parse("0 3,23 * * 1-5")
	if n := len(h.Anchors()); n != 1440-20*60 {
		t.Fatalf("%d anchors, want %d", n, 1440-20*60)
	}
	u, _ := Parse("0,30 9 * * *")
	if _, err := u.Shifted(600); err == nil {
		t.Fatal("moved a schedule whose runs do not share a minute")
	}
	if got, err := u.Shifted(540); err != nil || got != "0,30 9 * * *" {
		t.Fatalf("unmoved schedule rewritten: %q %v", got, err)
	}
}

func TestHourField(t *testing.T) {
	s, _ := Parse("0 */6 * * *")
	if got, _ := s.Shifted(90); got != "30 1,7,13,19 * * *" {
		t.Errorf("got %q", got)
	}
	if got, _ := s.Shifted(1440 + 0); got != "0 */6 * * *" {
		t.Errorf("got %q", got)
	}
	d, _ := Parse("0 2 * * *")
	if got, _ := d.Shifted(0); got != "0 0 * * *" {
		t.Errorf("got %q", got)
	}
}

func TestStartDelay(t *testing.T) {
	s, _ := Parse("0 2 * * *")
	day := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	starts := []time.Time{day.Add(2*time.Hour + 30*time.Second), day.Add(2*time.Hour + 90*time.Second), day.Add(2*time.Hour + 10*time.Minute)}
	if d, ok := s.StartDelay(time.UTC, starts); !ok || d != 90 {
		t.Errorf("delay %d %v, want 90", d, ok)
	}
	if _, ok := s.StartDelay(time.UTC, nil); ok {
		t.Error("delay from no runs")
	}
}

// TestStartDelayInZone: `0 9 * * *` in Asia/Tokyo ticks at 00:00 UTC, so
// runs starting 00:01:30 UTC are 90 s late (read in UTC, 15 h 1 min 30 s).
// In America/New_York `0 2 * * *` ticks at 07:00 UTC in winter and 06:00
// UTC in summer: starts at 07:00:30 UTC on 1 March and 06:00:30 UTC on 1
// July are both 30 s late.
func TestStartDelayInZone(t *testing.T) {
	tokyo, err1 := LoadZone("Asia/Tokyo")
	ny, err2 := LoadZone("Timezone('America/New_York')")
	if err1 != nil || err2 != nil {
		t.Skipf("no time zone database: %v %v", err1, err2)
	}
	s, _ := Parse("0 9 * * *")
	starts := []time.Time{time.Date(2026, 3, 1, 0, 1, 30, 0, time.UTC), time.Date(2026, 3, 2, 0, 1, 30, 0, time.UTC)}
	if d, _ := s.StartDelay(tokyo, starts); d != 90 {
		t.Errorf("Tokyo delay %d s, want 90", d)
	}
	if d, _ := s.StartDelay(time.UTC, starts); d != 15*3600+90 {
		t.Errorf("UTC delay %d s, want %d", d, 15*3600+90)
	}
	s, _ = Parse("0 2 * * *")
	starts = []time.Time{time.Date(2026, 3, 1, 7, 0, 30, 0, time.UTC), time.Date(2026, 7, 1, 6, 0, 30, 0, time.UTC)}
	if d, _ := s.StartDelay(ny, starts); d != 30 {
		t.Errorf("New York delay %d s, want 30", d)
	}
}

func TestLoadZone(t *testing.T) {
	if loc, err := LoadZone(""); err != nil || loc != time.UTC {
		t.Errorf("empty zone = %v, %v; want UTC", loc, err)
	}
	if _, err := LoadZone("Mars/Olympus"); err == nil {
		t.Error("an unknown zone was accepted")
	}
	// A serialized DAG's fixed offset: 5 h 30 min east of UTC.
	if loc, err := LoadZone("19800"); err != nil || loc.String() != "+05:30" || Offset(loc, time.Now()) != 330 {
		t.Errorf("19800 = %v, %v; want +05:30", loc, err)
	}
	if loc, err := LoadZone("-03:00"); err != nil || loc.String() != "-03:00" || Offset(loc, time.Now()) != -180 {
		t.Errorf("-03:00 = %v, %v; want -03:00", loc, err)
	}
}

// TestOddWallTimes: in America/New_York in 2026 the clocks skip 02:00–02:59
// on 8 March and go over 01:00–01:59 twice on 1 November; 03:30 is always
// there once. Tokyo has no such days.
func TestOddWallTimes(t *testing.T) {
	ny, err1 := LoadZone("America/New_York")
	tokyo, err2 := LoadZone("Asia/Tokyo")
	if err1 != nil || err2 != nil {
		t.Skipf("no time zone database: %v %v", err1, err2)
	}
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	got := OddWallTimes(ny, []int{2*60 + 30, 1*60 + 30, 3*60 + 30}, from)
	want := []string{
		"02:30 does not exist on 2026-03-08 (the clocks skip it)",
		"01:30 happens twice on 2026-11-01 (the clocks go back over it)",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("New York: %q, want %q", got, want)
	}
	if got := OddWallTimes(tokyo, []int{150, 90}, from); len(got) != 0 {
		t.Errorf("Tokyo: %q, want none", got)
	}
	// Offsets and the next change.
	if o := Offset(ny, from); o != -300 {
		t.Errorf("New York offset in January %d, want -300", o)
	}
	at, off, ok := NextOffsetChange(ny, from)
	if !ok || !at.Equal(time.Date(2026, 3, 8, 7, 0, 0, 0, time.UTC)) || off != -240 {
		t.Errorf("next change %v %d %v, want 2026-03-08 07:00 UTC to -240", at, off, ok)
	}
	if _, _, ok := NextOffsetChange(tokyo, from); ok {
		t.Error("Tokyo has no offset change")
	}
}
