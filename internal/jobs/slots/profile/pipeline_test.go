package profile

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/beametrics/beametrics/internal/jobs/slots/history"
)

func TestMain(m *testing.M) { ptest.Main(m) }

func runProfile(t *testing.T, cfg Config) *Doc {
	t.Helper()
	p, err := Build(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := ptest.Run(p); err != nil {
		t.Fatal(err)
	}
	d, err := ReadDoc(cfg.Out)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func write(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// smallHistory: dag_a (labelled, 100 slots for 30 min from 02:01) and dag_b
// (unlabelled, 80 slots for 10 min from 02:30) on three days, plus bad rows.
func smallHistory(t *testing.T, dir string) (timeline, runs string) {
	var tl, rs strings.Builder
	day0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for d := 0; d < 3; d++ {
		day := day0.AddDate(0, 0, d)
		aStart := day.Add(2*time.Hour + time.Minute)
		bStart := day.Add(2*time.Hour + 30*time.Minute)
		fmt.Fprintf(&rs, `{"dag_id":"dag_a","dag_run_id":"scheduled__%d","logical_date":%q,"start_date":%q,"end_date":%q,"schedule_interval":{"__type":"CronExpression","value":"0 2 * * *"},"run_type":"scheduled"}`+"\n",
			d, day.Format(time.RFC3339), aStart.Format(time.RFC3339), aStart.Add(30*time.Minute).Format(time.RFC3339))
		fmt.Fprintf(&rs, `{"dag_id":"dag_b","dag_run_id":"scheduled__%d","logical_date":%q,"start_date":%q,"end_date":%q,"schedule_interval":"30 2 * * *","run_type":"scheduled"}`+"\n",
			d, day.Format(time.RFC3339), bStart.Format(time.RFC3339), bStart.Add(10*time.Minute).Format(time.RFC3339))
		for s := 0; s < 30*60; s++ {
			fmt.Fprintf(&tl, `{"job_id":"a%d","period_start":%q,"period_slot_ms":"100000","labels":[{"key":"airflow-dag","value":"dag_a"}]}`+"\n",
				d, aStart.Add(time.Duration(s)*time.Second).Format("2006-01-02 15:04:05 UTC"))
		}
		for s := 0; s < 10*60; s++ {
			fmt.Fprintf(&tl, `{"job_id":"b%d","period_start":%q,"period_slot_ms":80000}`+"\n",
				d, bStart.Add(time.Duration(s)*time.Second).Format(time.RFC3339))
		}
	}
	tl.WriteString(`{"job_id":"x","period_slot_ms":5}` + "\n")
	tl.WriteString(`{"job_id":"x","period_start":"yesterday","period_slot_ms":5}` + "\n")
	tl.WriteString(`{"job_id":"x","period_start":"2026-03-01T02:00:00Z","period_slot_ms":-5}` + "\n")
	tl.WriteString(`{"job_id": broken` + "\n")
	rs.WriteString(`{"dag_id":"dag_c","dag_run_id":"r1","start_date":"2026-03-01T05:00:00Z","schedule_interval":"@daily"}` + "\n")
	return write(t, dir, "timeline.json", tl.String()), write(t, dir, "runs.jsonl", rs.String())
}

func TestProfileSmallHistory(t *testing.T) {
	dir := t.TempDir()
	tl, runs := smallHistory(t, dir)
	d := runProfile(t, Config{Inputs: []string{tl}, Kind: history.KindTimeline, RunsFile: runs, CapSlots: 150, Out: filepath.Join(dir, "profile.json")})

	nGood := 3 * (30*60 + 10*60)
	if got := d.Rows[tl]; got != int64(nGood+4) {
		t.Errorf("rows = %d, want %d", got, nGood+4)
	}
	wantBad := map[int]string{
		nGood + 1: "missing period_start",
		nGood + 2: "period_start: bad timestamp",
		nGood + 3: "period_slot_ms is negative",
		nGood + 4: "not JSON",
	}
	if len(d.BadRows) != len(wantBad) {
		t.Fatalf("bad rows = %v, want 4", d.BadRows)
	}
	for _, b := range d.BadRows {
		if w, ok := wantBad[b.Line]; !ok || !strings.HasPrefix(b.Reason, w) || b.File != tl {
			t.Errorf("bad row %v, want line %d to be %q", b, b.Line, w)
		}
	}
	if len(d.BadRunRows) != 1 || d.BadRunRows[0].Line != 7 || !strings.Contains(d.BadRunRows[0].Reason, "end_date") {
		t.Errorf("bad run rows = %v, want line 7 without end_date", d.BadRunRows)
	}
	if d.Days != 3 {
		t.Errorf("days = %d, want 3", d.Days)
	}
	if len(d.DAGs) != 2 {
		t.Fatalf("dags = %+v, want dag_a and dag_b", d.DAGs)
	}
	a, b := d.DAGs[0], d.DAGs[1]
	if a.DAG != "dag_a" || a.Runs != 3 || a.StartDelaySec != 60 || a.MedianDurationMin != 30 || a.Schedule != "0 2 * * *" {
		t.Errorf("dag_a = %+v", a)
	}
	if len(a.MedianSlots) != 30 {
		t.Fatalf("dag_a profile has %d minutes, want 30", len(a.MedianSlots))
	}
	for i := range a.MedianSlots {
		if a.MedianSlots[i] != 100 || a.P90Slots[i] != 100 {
			t.Fatalf("dag_a minute %d: median %v p90 %v, want 100", i, a.MedianSlots[i], a.P90Slots[i])
		}
	}
	// dag_b has no labels: its first minute overlaps dag_a's run, so that
	// minute is ambiguous and not in its profile.
	if b.DAG != "dag_b" || len(b.MedianSlots) != 10 || b.MedianSlots[0] != 0 || b.MedianSlots[1] != 80 || b.SlotMsByMethod[history.ByOverlap] != 3*9*60*80000 {
		t.Errorf("dag_b = %+v", b)
	}
	if d.SlotMsByMethod[history.Ambiguous] != 3*60*80000 || d.SlotMsByMethod[history.ByLabel] != 3*30*60*100000 {
		t.Errorf("by method = %v", d.SlotMsByMethod)
	}
	// Over the cap of 150: 02:30 on each day (100 + 80).
	if len(d.OverCap) != 3 {
		t.Fatalf("over cap = %+v, want 3 minutes", d.OverCap)
	}
	for i, o := range d.OverCap {
		want := time.Date(2026, 3, 1+i, 2, 30, 0, 0, time.UTC)
		if !o.At.Equal(want) || o.Slots != 180 || len(o.DAGs) != 2 || o.DAGs[0].DAG != "dag_a" || o.DAGs[1].DAG != AmbiguousName {
			t.Errorf("over cap %d = %+v, want %v 180 slots dag_a + ambiguous", i, o, want)
		}
	}
	m := d.MinuteOfDay[2*60+30]
	if m.MeanSlots != 180 || m.MaxSlots != 180 || m.MeanBackgroundSlots != 80 {
		t.Errorf("02:30 = %+v", m)
	}
	if m := d.MinuteOfDay[2*60+35]; m.MeanSlots != 80 || m.MeanBackgroundSlots != 0 {
		t.Errorf("02:35 = %+v", m)
	}
	if m := d.MinuteOfDay[0]; m.MeanSlots != 0 || math.IsNaN(m.MaxSlots) {
		t.Errorf("00:00 = %+v", m)
	}
	checkSmallHistoryDays(t, d.History)
}

// checkSmallHistoryDays: the per-day history of smallHistory, minute by
// minute. Each day dag_a uses 100 slots = 6,000,000 slot-ms a minute from
// 02:01 to 02:30; dag_b 80 slots = 4,800,000 from 02:31 to 02:39 (its own);
// dag_b's 02:30 is ambiguous, so background.
func checkSmallHistoryDays(t *testing.T, h *History) {
	t.Helper()
	if h == nil {
		t.Fatal("no history in the profile")
	}
	var wantA, wantB, wantBg []MinuteUse
	for d := 0; d < 3; d++ {
		at := func(hh, mm int) int64 {
			return time.Date(2026, 3, 1+d, hh, mm, 0, 0, time.UTC).Unix() / 60
		}
		for mm := 1; mm <= 30; mm++ {
			wantA = append(wantA, MinuteUse{at(2, mm), 6_000_000})
		}
		for mm := 31; mm <= 39; mm++ {
			wantB = append(wantB, MinuteUse{at(2, mm), 4_800_000})
		}
		wantBg = append(wantBg, MinuteUse{at(2, 30), 4_800_000})
	}
	if len(h.DAGs) != 2 {
		t.Errorf("history has DAGs %v, want dag_a and dag_b", len(h.DAGs))
	}
	for name, want := range map[string][]MinuteUse{"dag_a": wantA, "dag_b": wantB, "background": wantBg} {
		got := h.DAGs[name]
		if name == "background" {
			got = h.Background
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("history of %s =\n%v\nwant\n%v", name, got, want)
		}
	}
}
