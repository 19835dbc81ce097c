package selfmetrics

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/monitoring/apiv3/v2/monitoringpb"

	"github.com/beametrics/beametrics/exporters"
	"github.com/beametrics/beametrics/exporters/cloudmonitoring"
	"github.com/beametrics/beametrics/internal/config"
	"github.com/beametrics/beametrics/internal/testing/fakemonitoring"
)

const monitoringConfig = `
window: 10s
metrics:
  - name: requests
    type: count
    export_type: google-cloud-monitoring
`

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// monitoringOptions returns reporter options whose exporters are the real
// Cloud Monitoring exporter talking to the strict fake server.
func monitoringOptions(t *testing.T, srv *fakemonitoring.Server, worker string, now func() time.Time) Options {
	t.Helper()
	cfg, err := config.Source{Name: "self.yaml", Text: []byte(monitoringConfig)}.Load()
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return Options{
		Config:   cfg,
		Settings: exporters.Settings{CloudMonitoring: exporters.CloudMonitoringSettings{Project: "p"}},
		Worker:   worker,
		NewExporter: func(ctx context.Context, typ string, s exporters.Settings) (exporters.Exporter, error) {
			if typ != exporters.TypeCloudMonitoring {
				t.Errorf("exporter of type %q asked for", typ)
			}
			return cloudmonitoring.New(ctx, s.CloudMonitoring, cloudmonitoring.Options{Client: srv.ClientOptions(),
				BackoffMin: time.Millisecond, BackoffMax: 5 * time.Millisecond, Logger: quiet})
		},
		Now:  now,
		Logf: func(f string, a ...any) { t.Logf(f, a...) },
	}
}

func startFake(t *testing.T) *fakemonitoring.Server {
	t.Helper()
	srv, err := fakemonitoring.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

// seriesOf returns the fake's series of a self-metric as
// "worker=W value value ...", sorted.
func seriesOf(srv *fakemonitoring.Server, metric string) []string {
	var out []string
	for _, se := range srv.Series() {
		if se.MetricType != exporters.DefaultMetricPrefix+metric {
			continue
		}
		s := "worker=" + se.Labels[WorkerLabel]
		for _, p := range se.Points {
			if _, ok := p.Value.GetValue().(*monitoringpb.TypedValue_Int64Value); ok {
				s += " " + strconv.FormatInt(p.Value.GetInt64Value(), 10)
			} else {
				s += " " + strconv.FormatFloat(p.Value.GetDoubleValue(), 'g', -1, 64)
			}
		}
		out = append(out, s)
	}
	return out
}

// Two workers writing the same window to Cloud Monitoring: each has its
// own series (the worker label is declared in every descriptor), and
// both are accepted with their own counts.
func TestTwoWorkersSameWindow(t *testing.T) {
	srv := startFake(t)
	t0 := time.Now().UTC().Truncate(10 * time.Second)
	clock := t0.Add(time.Second)
	now := func() time.Time { return clock }
	a, err := New(context.Background(), monitoringOptions(t, srv, "vm-a-7", now))
	if err != nil {
		t.Fatalf("worker a: %v", err)
	}
	defer a.Close()
	b, err := New(context.Background(), monitoringOptions(t, srv, "vm-b-7", now))
	if err != nil {
		t.Fatalf("worker b: %v", err)
	}
	defer b.Close()

	failsBefore := FailuresByExporter.Snapshot()
	// Both reporters read this process's counters; what matters is that
	// the same window from two workers does not collide.
	Events.Add(5)
	a.Export(context.Background(), t0.Add(10*time.Second))
	Events.Add(2)
	b.Export(context.Background(), t0.Add(10*time.Second))
	if d := diffFailures(failsBefore); len(d) > 0 {
		t.Fatalf("points lost: %v", d)
	}

	for _, metric := range []string{MetricEventsRead, MetricWatermarkLag} {
		got := seriesOf(srv, metric)
		if len(got) != 2 || !strings.HasPrefix(got[0], "worker=vm-a-7 ") || !strings.HasPrefix(got[1], "worker=vm-b-7 ") {
			t.Errorf("%s series %q, want one per worker", metric, got)
		}
	}
	got := seriesOf(srv, MetricEventsRead)
	if len(got) == 2 && (got[0] != "worker=vm-a-7 5" || got[1] != "worker=vm-b-7 7") {
		t.Errorf("events_read %q, want 5 from vm-a-7 and 7 (counted since b started) from vm-b-7", got)
	}
	for _, d := range Descriptors(10*time.Second, exporters.TypeCloudMonitoring) {
		md := srv.Descriptor(exporters.DefaultMetricPrefix + d.Name)
		if md == nil {
			t.Errorf("no descriptor for %s", d.Name)
			continue
		}
		var keys []string
		for _, l := range md.Labels {
			keys = append(keys, l.Key)
		}
		if !slices.Contains(keys, WorkerLabel) {
			t.Errorf("descriptor of %s declares %v, without %q", d.Name, keys, WorkerLabel)
		}
	}
}

// Without the worker label two processes write the same series for the
// same window, and Cloud Monitoring refuses the second: that is what the
// label is for. The loss is counted, never silent.
func TestWithoutWorkerLabelWorkersCollide(t *testing.T) {
	srv := startFake(t)
	t0 := time.Now().UTC().Truncate(10 * time.Second)
	now := func() time.Time { return t0.Add(time.Second) }
	a, err := New(context.Background(), monitoringOptions(t, srv, "", now))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := New(context.Background(), monitoringOptions(t, srv, "", now))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	failsBefore := FailuresByExporter.Snapshot()
	a.Export(context.Background(), t0.Add(10*time.Second))
	b.Export(context.Background(), t0.Add(10*time.Second))
	// b's points are the same series as a's, for the same window: every
	// one of them is refused.
	lost := diffFailures(failsBefore)[Failure{Exporter: exporters.TypeCloudMonitoring, Code: "INVALID_ARGUMENT"}]
	if want := int64(len(srv.Series())); lost != want {
		t.Errorf("%d points of the second process refused, want all %d (each collides with the first's)", lost, want)
	}
	if got := seriesOf(srv, MetricEventsRead); len(got) != 1 || !strings.HasPrefix(got[0], "worker= ") || strings.Count(got[0], " ") != 1 {
		t.Errorf("events_read series %q, want exactly one point on one series, without a worker", got)
	}
}

// A worker counts from the process's start: events read before its first
// sink was set up (and so before the reporter existed) are its own.
func TestSinceProcessStart(t *testing.T) {
	srv := startFake(t)
	Events.Add(3)
	total := Events.Load()
	t0 := time.Now().UTC().Truncate(10 * time.Second)
	o := monitoringOptions(t, srv, "vm-c-1", func() time.Time { return t0.Add(time.Second) })
	o.SinceProcessStart = true
	r, err := New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.Export(context.Background(), t0.Add(10*time.Second))
	want := "worker=vm-c-1 " + strconv.FormatInt(total, 10)
	if got := seriesOf(srv, MetricEventsRead); len(got) != 1 || got[0] != want {
		t.Errorf("events_read %q, want %q (every event this process read)", got, want)
	}
}

// Stopped mid-window (a drain), the reporter exports the counts so far as
// the window holding the clock, under its aligned end, as the drain does
// the metrics' open windows; the drain's windows ending ahead of the clock
// mean no lag, not a negative one.
func TestLastWindowAlignedWithoutNegativeLag(t *testing.T) {
	// The newest exported window end is the process's: set it for this
	// test alone.
	saved := LatestWindowEnd.Load()
	t.Cleanup(func() { LatestWindowEnd.Store(saved) })
	LatestWindowEnd.Store(0)

	o, out := localOptions(t, "10s", "")
	t0 := time.Date(2031, 5, 6, 10, 0, 3, 0, time.UTC)
	clock := t0
	o.Now = func() time.Time { return clock }
	r, err := New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	close(done) // stop at once: Run exports the last window and returns
	Events.Add(4)
	LatestWindowEnd.Store(t0.Add(17 * time.Second).UnixNano()) // the drain flushed [10:00:10, 10:00:20)
	clock = t0.Add(1500 * time.Millisecond)                    // 10:00:04.5
	r.Run(context.Background(), done)

	got := readLines(t, out)
	for _, want := range []string{
		"beametrics/events_read{} 10:00:00-10:00:10 = 4",
		"beametrics/watermark_lag{} 10:00:00-10:00:10 = 0",
	} {
		if !slices.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, strings.Join(got, "\n"))
		}
	}
}

// A config whose metric takes a self-metric's name is refused by Check.
func TestCheckRefusesCollidingName(t *testing.T) {
	cfg, err := config.Source{Name: "x.yaml", Text: []byte("window: 10s\nmetrics:\n  - name: beametrics/dead_letters\n    type: count\n    export_type: local\n")}.Load()
	if err != nil {
		t.Skipf("the config refuses the name itself: %v", err)
	}
	if _, err := Check(Options{Config: cfg, Worker: "w"}); err == nil || !strings.Contains(err.Error(), "beametrics/dead_letters") {
		t.Errorf("got %v, want the collision named", err)
	}
}

func TestWorkerID(t *testing.T) {
	id := WorkerID()
	if id == "" || !strings.Contains(id, "-") || id != WorkerID() {
		t.Errorf("WorkerID() = %q, want a stable host-pid", id)
	}
}

func diffFailures(before map[Failure]int64) map[Failure]int64 {
	out := map[Failure]int64{}
	for k, v := range FailuresByExporter.Snapshot() {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// Metrics of two export types give each type its own self-metrics: that
// is no name declared twice.
func TestCheckTwoExportTypes(t *testing.T) {
	cfg, err := config.Source{Name: "x.yaml", Text: []byte("window: 10s\nmetrics:\n  - {name: a, type: count, export_type: local}\n  - {name: b, type: count, export_type: prometheus}\n")}.Load()
	if err != nil {
		t.Fatal(err)
	}
	s := exporters.Settings{RemoteWrite: exporters.RemoteWriteSettings{URL: "http://127.0.0.1:9/api/v1/write"}}
	for _, worker := range []string{"", "w"} {
		types, err := Check(Options{Config: cfg, Settings: s, Worker: worker})
		if err != nil || strings.Join(types, ",") != "local,prometheus" {
			t.Errorf("worker %q: types %v, error %v; want local,prometheus and no error", worker, types, err)
		}
	}
}
