package exportsink_test

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/beametrics/beametrics/exporters"
	"github.com/beametrics/beametrics/exporters/promscrape"
	"github.com/beametrics/beametrics/internal/config"
	"github.com/beametrics/beametrics/internal/metricdata"
	"github.com/beametrics/beametrics/transforms/absence"
	"github.com/beametrics/beametrics/transforms/exportsink"
	"github.com/beametrics/beametrics/transforms/metricagg"
)

func init() {
	register.Function2x1(decodeSince)
}

// decodeSince reads "key-base64 window-end-unix-ms seconds" into one
// seconds-since-last-seen value stamped at the end of its window.
func decodeSince(s string, emit func(beam.EventTime, string, float64)) error {
	var k string
	var ms int64
	var secs float64
	if _, err := fmt.Sscanf(s, "%s %d %g", &k, &ms, &secs); err != nil {
		return err
	}
	key, err := base64.StdEncoding.DecodeString(k)
	if err != nil {
		return err
	}
	emit(mtime.FromMilliseconds(ms-1), string(key), secs)
	return nil
}

const sinceConfig = `
event_time_field: time
window: 60s
metrics:
  - name: liveness
    type: count
    dynamic_labels: {id: id}
    export_type: local
    absent: {expected: [{id: a}, {id: b}]}
`

// since encodes one value of the series id of sinceConfig's metric for
// the window ending at end.
func since(id string, end time.Time, secs float64) any {
	key := metricagg.SeriesKey(0, absence.LabelKey([]string{id}))
	return fmt.Sprintf("%s %d %g", base64.StdEncoding.EncodeToString([]byte(key)), end.UnixMilli(), secs)
}

// The seconds_since_last_seen gauges reach /metrics, and a second DoFn
// instance in the same process (a new bundle processor, a second run) does
// not empty the endpoint: defining a metric again would drop its series.
func TestSinceSurvivesSecondInstance(t *testing.T) {
	r := &recorder{}
	install(t, r)
	src := config.Source{Name: "since.yaml", Text: []byte(sinceConfig)}
	const listen = "localhost:0" // not shared with the other scrape test's config
	t1 := time.Date(2025, 11, 24, 16, 2, 0, 0, time.UTC)
	run := func(elems ...any) {
		p, s := beam.NewPipelineWithRoot()
		vals := beam.ParDo(s, decodeSince, beam.Create(s, elems...))
		windowed := beam.WindowInto(s, window.NewFixedWindows(time.Minute), vals)
		exportsink.WriteSince(s, src, exporters.Settings{PrometheusListen: listen}, "", windowed)
		if err := ptest.Run(p); err != nil {
			t.Fatalf("pipeline failed: %v", err)
		}
	}
	run(since("a", t1, 5), since("b", t1, 7))
	// An older window never replaces a newer one, so after the second
	// instance the first run's values must still be served.
	run(since("a", t1.Add(-time.Minute), 2))

	srv, err := promscrape.Shared(listen)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + srv.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`liveness_seconds_since_last_seen{id="a"} 5`,
		`liveness_seconds_since_last_seen{id="b"} 7`,
	} {
		if !strings.Contains(string(body), want+"\n") {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
	// The export type's exporter got all three points, as gauges
	// covering their windows.
	want := []string{
		`liveness/seconds_since_last_seen{id=a} 2025-11-24T16:01:00Z/2025-11-24T16:02:00Z = 5`,
		`liveness/seconds_since_last_seen{id=b} 2025-11-24T16:01:00Z/2025-11-24T16:02:00Z = 7`,
		`liveness/seconds_since_last_seen{id=a} 2025-11-24T16:00:00Z/2025-11-24T16:01:00Z = 2`,
	}
	r.mu.Lock()
	got := r.points["local"]
	r.mu.Unlock()
	if strings.Join(sorted(got), "\n") != strings.Join(sorted(want), "\n") {
		t.Errorf("local exporter got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

func TestSinceDescriptor(t *testing.T) {
	d := exportsink.SinceDescriptor(metricdata.Descriptor{Name: "pipeline-liveness", Aggregation: "count", ValueType: metricdata.Int64,
		Kind: metricdata.Cumulative, LabelNames: []string{"pipeline_id"}, ExportType: "local", Window: time.Minute})
	if d.Name != "pipeline-liveness/seconds_since_last_seen" || d.ValueType != metricdata.Double || d.Kind != metricdata.Gauge ||
		d.Unit != "s" || d.ExportType != "local" || d.Window != time.Minute || len(d.LabelNames) != 1 {
		t.Errorf("descriptor %+v", d)
	}
	if got := exporters.PrometheusFamily(d); got != "pipeline_liveness_seconds_since_last_seen" {
		t.Errorf("Prometheus name %q", got)
	}
}
