package pipeline_test

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"

	"github.com/beametrics/beametrics/internal/selfmetrics"
	"github.com/beametrics/beametrics/internal/testing/pubsubtest"
	"github.com/beametrics/beametrics/internal/testing/runoutput"
	"github.com/beametrics/beametrics/pipeline"
)

// TestLateCountsOnlyWhatWasDropped streams on-time and late data and checks
// that "late" counts exactly the values the runner dropped:
//   - 50 messages waiting before the start, with event times 30 s old: the
//     source holds its watermark at the start (ack after export), so they
//     are on time and exported, though 30 s is far beyond --max-delay
//     (the old estimate from the clock counted them late);
//   - 20 messages published once the watermark has moved, with event times
//     10 minutes old: their windows closed long ago, so the runner drops
//     them, and they are counted.
func TestLateCountsOnlyWhatWasDropped(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: waits for the source's start-up hold (about 15 s)")
	}
	const backlog, late = 50, 20
	srv := pubsubtest.StartFake(t)
	c := e2eSubscription(t, srv, 10*time.Second)
	t.Setenv("PUBSUB_EMULATOR_HOST", srv.Addr)
	publish := func(n int, age time.Duration) {
		at := time.Now().Add(-age).UTC().Format(time.RFC3339Nano)
		var msgs []*pubsub.Message
		for range n {
			msgs = append(msgs, &pubsub.Message{Data: []byte(fmt.Sprintf(`{"time":%q}`, at))})
		}
		pubsubtest.Publish(t, c, e2eTopic, msgs)
	}
	publish(backlog, 30*time.Second)

	cfg := writeFile(t, "late.yaml", []byte("event_time_field: time\nwindow: 10s\nmetrics:\n  - {name: n, type: count, export_type: local}\n"))
	out := t.TempDir() + "/out.jsonl"
	o := &pipeline.Options{Config: cfg, Subscription: e2eSub, MaxDelay: time.Second, Pullers: 2}
	o.Exporters.Local.Path = out
	run := runInBackground(t, o)
	// The backlog's window is exported once the start-up hold is over and
	// the watermark has moved past it.
	run.waitFor(func() string { return "export of the backlog" }, func() bool { return exportedTotal(t, out) == backlog })
	eventsBefore := selfmetrics.Events.Load()
	publish(late, 10*time.Minute)
	run.waitFor(func() string { return "read of the late messages" }, func() bool { return selfmetrics.Events.Load()-eventsBefore >= late })
	time.Sleep(time.Second) // their bundle's partial aggregates reach the windows
	err := run.drain()
	stderr := &run.stderr
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, stderr.String())
	}
	if got := exportedTotal(t, out); got != backlog {
		t.Errorf("exported total %d, want %d (the backlog only)", got, backlog)
	}
	m := regexp.MustCompile(`, (\d+) late`).FindStringSubmatch(stderr.String()[bytes.LastIndex(stderr.Bytes(), []byte("beametrics: done in")):])
	if m == nil {
		t.Fatalf("no summary with a late count:\n%s", stderr.String())
	}
	if got, _ := strconv.Atoi(m[1]); got != late {
		t.Errorf("summary says %d late, want %d (only the values the runner dropped)\n%s", got, late, stderr.String())
	}
}

// exportedTotal adds the values of metric n in the local exporter's file.
func exportedTotal(t *testing.T, path string) int {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		return 0 // nothing exported yet
	}
	total := 0
	for _, p := range runoutput.ReadPoints(t, path) {
		if p.Metric == "n" {
			total += int(p.Number(t))
		}
	}
	return total
}
