package pipeline_test

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"

	"github.com/beametrics/beametrics/internal/selfmetrics"
	"github.com/beametrics/beametrics/internal/testing/pubsubtest"
)

// max_series on a stream whose workers are processes of their own: the
// seriescap step runs there, and its overflow count reaches the launcher's
// summary only through the Beam counters.
func TestWorkerProcessMaxSeries(t *testing.T) {
	const (
		users, perUser, maxSeries = 40, 25, 5
		n                         = users * perUser
	)
	srv := pubsubtest.StartFake(t)
	c := srv.Client(t, e2eProject)
	pubsubtest.CreateTopic(t, c, e2eTopic)
	pubsubtest.CreateSubscription(t, c, e2eSub, e2eTopic, time.Minute)
	// One window two minutes ahead: it closes at the drain.
	at := time.Now().UTC().Truncate(10 * time.Second).Add(2*time.Minute + 5*time.Second).Format(time.RFC3339Nano)
	var msgs []*pubsub.Message
	for i := range n {
		msgs = append(msgs, &pubsub.Message{Data: []byte(fmt.Sprintf(`{"time":%q,"user":"u%d"}`, at, i%users))})
	}
	pubsubtest.Publish(t, c, e2eTopic, msgs)

	cfg := writeFile(t, "maxseries.yaml", []byte(maxSeriesConfig))
	l := startLaunch(t, []string{"PUBSUB_EMULATOR_HOST=" + srv.Addr},
		"--config="+cfg, "--subscription="+e2eSub, "--max-delay=2s", "--pullers=4", "--progress-interval=0")
	// The workers' self-metrics (every 10 s) tell when every message was
	// read.
	deadline := time.Now().Add(3 * time.Minute)
	for read := int64(0); read < n; {
		read = 0
		for _, line := range strings.Split(l.stdout.String(), "\n") {
			var p struct {
				Metric string `json:"metric_name"`
				Value  int64  `json:"value"`
			}
			if json.Unmarshal([]byte(line), &p) == nil && p.Metric == selfmetrics.MetricEventsRead {
				read += p.Value
			}
		}
		select {
		case <-l.exited:
			t.Fatalf("beametrics ended before the drain: %v\nstderr:\n%s", l.err, tail(l.stderr.String()))
		case <-time.After(500 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 3 minutes the workers have read %d of %d events\nstderr:\n%s", read, n, tail(l.stderr.String()))
		}
	}
	if err := l.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if code := l.wait(t, 3*time.Minute); code != 0 {
		t.Fatalf("drain: exit %d\nstderr:\n%s", code, tail(l.stderr.String()))
	}

	series, admitted, overflow := 0, 0, 0
	for _, line := range metricLines(t, l.stdout.String()) {
		var p struct {
			Metric string            `json:"metric_name"`
			Labels map[string]string `json:"labels"`
			Value  int               `json:"value"`
		}
		if err := json.Unmarshal([]byte(line), &p); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		switch {
		case p.Metric != "by-user":
		case p.Labels["user"] == "__overflow__":
			overflow += p.Value
		default:
			series++
			admitted += p.Value
		}
	}
	if series != maxSeries || admitted+overflow != n {
		t.Errorf("%d user series holding %d events and an overflow series of %d; want %d series and %d events in all",
			series, admitted, overflow, maxSeries, n)
	}
	m := regexp.MustCompile(`beametrics: done in .*, (\d+) overflowed \(max_series\)`).FindStringSubmatch(l.stderr.String())
	if m == nil {
		t.Fatalf("no summary with an overflow count:\n%s", tail(l.stderr.String()))
	}
	if got, _ := strconv.Atoi(m[1]); got != n-admitted {
		t.Errorf("summary: %d overflowed, want %d (the events outside the %d series)\n%s", got, n-admitted, maxSeries, tail(l.stderr.String()))
	}
}
