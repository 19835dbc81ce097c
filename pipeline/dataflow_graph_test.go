//lint:file-ignore SA1019 Beam's pubsubio hands Dataflow's native Pub/Sub messages over as genproto's PubsubMessage: the type is Beam's choice.

package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/teststream"
	pb "google.golang.org/genproto/googleapis/pubsub/v1"

	"github.com/beametrics/beametrics/internal/loggen"
	"github.com/beametrics/beametrics/internal/selfmetrics"
	"github.com/beametrics/beametrics/internal/testing/beamtest"
	"github.com/beametrics/beametrics/internal/testing/runoutput"
	"github.com/beametrics/beametrics/transforms/exportsink"
)

func init() {
	register.Function1x1(nativeSourceStandIn)
}

// nativeSourceStandIn emits what Dataflow's native Pub/Sub source emits
// for one message: a *pb.PubsubMessage with data and attributes only (no
// message ID, no publish_time), whose element timestamp (kept from the
// test stream) is the publish time. The test stream's elements are
// "origin\tbody".
func nativeSourceStandIn(elem string) *pb.PubsubMessage {
	origin, body, _ := strings.Cut(elem, "\t")
	return &pb.PubsubMessage{Data: []byte(body), Attributes: map[string]string{"origin": origin}}
}

// The metrics of the Dataflow-graph test. Without an event-time field, as
// in every config of the original tool: the time is the publish time.
const dataflowGraphConfig = `
window: 60s
metrics:
  - {name: requests, type: count, dynamic_labels: {service: service, status: http.status}, export_type: local}
  - {name: by-origin, type: count, dynamic_labels: {origin: attributes.origin}, export_type: local}
  - name: checkout-bytes
    type: sum
    field: http.bytes
    window: 300s
    filter-conditions: [{field: service, operator: equals, value: checkout}]
    export_type: local
  - {name: api-latency, type: distribution, field: http.latency_ms, buckets: [5, 10, 25, 50, 100, 250, 500], export_type: local}
  - {name: newest-latency, type: latest, field: http.latency_ms, export_type: local}
`

// The exact graph prepareDataflow builds, with a stand-in for the native
// source, runs on prism (this process playing the worker) and exports
// exactly what a replay of the same events exports, where the replay takes
// each event's time from its "time" field and the attribute from the
// body's "attributes" object (an archived message).
func TestDataflowGraphOnPrismMatchesReplay(t *testing.T) {
	const n = 3000
	t0 := time.Date(2025, 11, 24, 16, 0, 0, 0, time.UTC)
	gen := loggen.New(7, t0, 100*time.Millisecond)
	ts := teststream.NewConfig()
	var archived bytes.Buffer
	for i := range n {
		line, at := gen.Append(nil)
		origin := [...]string{"web", "batch", "mobile"}[i%3]
		if err := ts.AddElements(at.UnixMilli(), origin+"\t"+string(line)); err != nil {
			t.Fatal(err)
		}
		archived.Write(line[:len(line)-1])
		fmt.Fprintf(&archived, `,"attributes":{"origin":%q}}`+"\n", origin)
	}
	if err := ts.AdvanceWatermarkToInfinity(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := dir + "/metrics.yaml"
	if err := os.WriteFile(cfg, []byte(dataflowGraphConfig), 0o644); err != nil {
		t.Fatal(err)
	}

	// The Dataflow graph: prepareDataflow's plan, native source replaced.
	oldRead := nativeRead
	nativeRead = func(s beam.Scope, project, subscription string) beam.PCollection {
		if project != "logs-project" || subscription != "app-logs" {
			t.Errorf("native read of %s/%s, want logs-project/app-logs", project, subscription)
		}
		return beam.ParDo(s.Scope("pubsubio.Read"), nativeSourceStandIn, teststream.Create(s, ts))
	}
	t.Cleanup(func() { nativeRead = oldRead })
	setFlags(t, map[string]string{
		"project": fakeProject, "region": "europe-west1", "staging_location": "gs://b/s",
		"worker_binary": "/opt/beametrics-linux-amd64",
	})
	o := flagDefaults(t)
	o.Config, o.Subscription = cfg, fakeSubscription
	plan, err := Prepare(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if err := prepareDataflow(context.Background(), plan, o); err != nil {
		t.Fatal(err)
	}
	// This process plays the worker; its local exporter writes to a file
	// here instead of the worker log.
	plan.Exporters.Local.Path = dir + "/dataflow.jsonl"
	if err := exportsink.CloseAll(); err != nil {
		t.Fatal(err)
	}
	beamtest.Run(t, func(s beam.Scope) error { return Build(s, plan) })
	selfmetrics.StopWorker()
	if err := exportsink.CloseAll(); err != nil {
		t.Fatal(err)
	}

	// The same events replayed.
	input := dir + "/archived.jsonl"
	if err := os.WriteFile(input, archived.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	replayCfg := dir + "/replay.yaml"
	if err := os.WriteFile(replayCfg, []byte("event_time_field: time\n"+dataflowGraphConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	r := flagDefaults(t)
	r.Config, r.Inputs = replayCfg, []string{input}
	r.Exporters.Local.Path = dir + "/replay.jsonl"
	var stderr bytes.Buffer
	if err := Run(context.Background(), r, &stderr); err != nil {
		t.Fatalf("replay: %v\n%s", err, stderr.String())
	}

	got, want := readLocalPoints(t, dir+"/dataflow.jsonl"), readLocalPoints(t, dir+"/replay.jsonl")
	// Independent of both runs: every event is counted once, in
	// windows of 2025 (not of year 1, the zero time).
	var requests float64
	for k, v := range got {
		if strings.HasPrefix(k, "requests{") {
			var x float64
			if err := json.Unmarshal(v, &x); err != nil {
				t.Fatalf("%s: %s", k, v)
			}
			requests += x
			if !strings.Contains(k, " 2025-11-24T16:") {
				t.Errorf("series %s: not in the events' time", k)
			}
		}
	}
	if requests != n {
		t.Errorf("requests add up to %v over all series and windows, want %d", requests, n)
	}
	// 3000 events over 300 s: 5 one-minute windows of 3 origins.
	for _, origin := range []string{"web", "batch", "mobile"} {
		k := "by-origin{origin=" + origin + "} 2025-11-24T16:02:00Z/2025-11-24T16:03:00Z"
		if string(got[k]) != "200" {
			t.Errorf("%s = %s, want 200 (600 events a minute, every third of this origin)", k, got[k])
		}
	}
	compareLocalPoints(t, got, want)
}

// readLocalPoints reads the local exporter's JSON lines into series
// (runoutput.SeriesKey) -> value, leaving out self-metrics.
func readLocalPoints(t *testing.T, path string) map[string]json.RawMessage {
	t.Helper()
	out := map[string]json.RawMessage{}
	for _, e := range runoutput.ReadPoints(t, path) {
		if strings.HasPrefix(e.Metric, selfmetrics.Prefix) {
			continue
		}
		k := e.Series()
		if _, dup := out[k]; dup {
			t.Errorf("%s: series %s exported twice", path, k)
		}
		out[k] = e.Value
	}
	return out
}

// compareLocalPoints wants the same series with the same values; sums of
// floating-point numbers may differ in their last bits (another order).
func compareLocalPoints(t *testing.T, got, want map[string]json.RawMessage) {
	t.Helper()
	bad := 0
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			if bad++; bad <= 20 {
				t.Errorf("series %s = %s: missing", k, w)
			}
			continue
		}
		var gv, wv any
		if json.Unmarshal(g, &gv) != nil || json.Unmarshal(w, &wv) != nil || !sameJSON(gv, wv) {
			if bad++; bad <= 20 {
				t.Errorf("series %s = %s, want %s", k, g, w)
			}
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			if bad++; bad <= 20 {
				t.Errorf("series %s = %s: not in the replay", k, g)
			}
		}
	}
	if bad > 0 || len(want) < 50 {
		t.Errorf("%d series differ; %d series got, %d want (want at least 50)", bad, len(got), len(want))
	}
}

func sameJSON(a, b any) bool {
	switch a := a.(type) {
	case float64:
		b, ok := b.(float64)
		return ok && math.Abs(a-b) <= 1e-9*math.Max(math.Abs(b), 1)
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, v := range a {
			if !sameJSON(v, b[k]) {
				return false
			}
		}
		return true
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !sameJSON(a[i], b[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}
