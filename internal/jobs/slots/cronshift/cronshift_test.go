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
	if d, ok := s.StartDelay(starts); !ok || d != 90 {
		t.Errorf("delay %d %v, want 90", d, ok)
	}
	if _, ok := s.StartDelay(nil); ok {
		t.Error("delay from no runs")
	}
}
