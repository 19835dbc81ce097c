//lint:file-ignore SA1019 Beam's pubsubio hands Dataflow's native Pub/Sub messages over as genproto's PubsubMessage: the type is Beam's choice.

package pipeline

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	pipepb "github.com/apache/beam/sdks/v2/go/pkg/beam/model/pipeline_v1"
	df "google.golang.org/api/dataflow/v1b3"
	pb "google.golang.org/genproto/googleapis/pubsub/v1"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/beametrics/beametrics/exporters"
	"github.com/beametrics/beametrics/internal/metricdata"
	"github.com/beametrics/beametrics/internal/selfmetrics"
	"github.com/beametrics/beametrics/internal/testing/beamtest"
	"github.com/beametrics/beametrics/transforms/exportsink"
	"github.com/beametrics/beametrics/transforms/pubsubread"
)

const (
	fakeProject      = "fake-project"
	fakeSubscription = "projects/logs-project/subscriptions/app-logs"
)

// captureLogger keeps Beam's log lines; the Dataflow runner's dry run
// prints the pipeline proto and the job there.
type captureLogger struct {
	mu   sync.Mutex
	msgs []string
}

func (l *captureLogger) Log(_ context.Context, _ log.Severity, _ int, msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, msg)
}

func (l *captureLogger) messages() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.msgs...)
}

// setFlags sets global (Beam) flags for one test and restores them after.
func setFlags(t *testing.T, values map[string]string) {
	t.Helper()
	for name, v := range values {
		f := flag.Lookup(name)
		if f == nil {
			t.Fatalf("flag --%s is not defined: the Dataflow runner is not linked in", name)
		}
		old := f.Value.String()
		if err := f.Value.Set(v); err != nil {
			t.Fatalf("--%s=%s: %v", name, v, err)
		}
		t.Cleanup(func() { _ = f.Value.Set(old) })
	}
}

// fakeGCS answers the runner's soft-delete check of the staging bucket
// (the only network call of a dry run) with "not found", offline.
func fakeGCS(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error":{"code":404,"message":"fake GCS: no such bucket"}}`))
	}))
	t.Cleanup(srv.Close)
	t.Setenv("STORAGE_EMULATOR_HOST", srv.URL)
}

// flagDefaults returns the options as the command line leaves them when
// no flag is given.
func flagDefaults(t *testing.T) *Options {
	t.Helper()
	o := &Options{}
	fs := flag.NewFlagSet("beametrics", flag.ContinueOnError)
	o.RegisterFlags(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	o.ProgressInterval = 0
	return o
}

// dryRun runs the Dataflow runner's translation of o without submitting
// and returns the job and the pipeline proto it would submit.
func dryRun(t *testing.T, o *Options) (*df.Job, *pipepb.Pipeline) {
	t.Helper()
	beam.Init()
	fakeGCS(t)
	setFlags(t, map[string]string{
		"runner":           "dataflow",
		"project":          fakeProject,
		"region":           "europe-west1",
		"staging_location": "gs://fake-bucket/staging",
		"dry_run":          "true",
		"job_name":         "beametrics-dry-run",
		"worker_binary":    os.Args[0], // cmd/beametrics defaults it to the running executable
		// A prism run earlier in this test binary leaves its loopback
		// environment in Beam's global flags; Dataflow needs the default.
		"environment_type":   "",
		"environment_config": "",
	})
	logs := &captureLogger{}
	log.SetLogger(logs)
	t.Cleanup(func() { log.SetLogger(&log.Structural{}) })

	o.Runner = "dataflow"
	var stderr bytes.Buffer
	if err := Run(context.Background(), o, &stderr); err != nil {
		t.Fatalf("dry run: %v\nstderr:\n%s\nbeam log:\n%s", err, stderr.String(), strings.Join(logs.messages(), "\n"))
	}
	var (
		job   *df.Job
		model *pipepb.Pipeline
	)
	msgs := logs.messages()
	for i, m := range msgs {
		if !strings.HasPrefix(m, "Dry-run") || i+2 >= len(msgs) {
			continue
		}
		model = &pipepb.Pipeline{}
		if err := prototext.Unmarshal([]byte(msgs[i+1]), model); err != nil {
			t.Fatalf("the dry run's pipeline proto does not parse: %v", err)
		}
		job = &df.Job{}
		if err := json.Unmarshal([]byte(msgs[i+2]), job); err != nil {
			t.Fatalf("the dry run's job does not parse: %v\n%s", err, msgs[i+2])
		}
	}
	if job == nil {
		t.Fatalf("no dry-run job in the Beam log:\n%s", strings.Join(msgs, "\n"))
	}
	return job, model
}

// transformNames returns the unique names of the pipeline's transforms that
// carry a spec (composites excluded), sorted, and the read transforms.
func transformNames(p *pipepb.Pipeline) (names []string, reads []*pipepb.PTransform) {
	for _, tr := range p.GetComponents().GetTransforms() {
		names = append(names, tr.GetUniqueName())
		if tr.GetSpec().GetUrn() == "beam:transform:pubsub_read:v1" {
			reads = append(reads, tr)
		}
	}
	sort.Strings(names)
	return names, reads
}

func TestDataflowDryRun(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts func(o *Options)
		// Steps that must be in the job: the update-compatibility
		// contract (docs/dataflow.md). Windows follow the config.
		steps []string
		// exact, when set, is every step of the job: a change here
		// changes what --update of a running job needs.
		exact bool
	}{
		{
			name: "quickstart",
			opts: func(o *Options) { o.Config = "../examples/quickstart.yaml" },
			steps: []string{
				"Aggregate",
				"Aggregate/metricagg.ParseMessagesFn",
				"DeadLetters",
				"DeadLetters/deadletter.Write",
				"DeadLetters/deadletter.Write/deadletter.writeFn",
				"Read",
				"Read/ToMessage",
				"Read/ToMessage/pipeline.messageFromPubsub",
				"Read/pubsubio.Read",
				"Read/pubsubio.Read/External",
				"Read/pubsubio.Read/pubsubio.unmarshalMessageFn",
				"Window10s",
				"Window10s/Combine",
				"Window10s/Combine/CombinePerKey",
				"Window10s/Combine/CombinePerKey/CoGBK",
				"Window10s/Combine/CombinePerKey/metricagg.CombineFn",
				"Window10s/Export",
				"Window10s/Export/exportsink.Write",
				"Window10s/Export/exportsink.Write/exportsink.WriteFn",
				"Window10s/MaxSeries",
				"Window10s/MaxSeries/seriescap.admitFn",
				"Window10s/MaxSeries/seriescap.batchFn",
				"Window10s/WindowInto",
			},
			exact: true,
		},
		{
			name: "quickstart to Cloud Monitoring",
			opts: func(o *Options) {
				o.Config = "../examples/quickstart.yaml"
				o.ExportType = "google-cloud-monitoring"
				o.Exporters.CloudMonitoring.Project = fakeProject
			},
			steps: []string{"Read/pubsubio.Read", "Read/ToMessage", "Aggregate", "Window10s/Combine", "Window10s/Export"},
		},
		{
			name: "original config",
			opts: func(o *Options) {
				o.Config = "../examples/original.yaml"
				o.WindowSize = 60
			},
			steps: []string{"Read/pubsubio.Read", "Read/ToMessage", "Aggregate", "Window1m0s/Combine", "Window1m0s/Export"},
		},
		{
			name: "original single-metric flags",
			opts: func(o *Options) {
				o.MetricName = "errors"
				o.FilterConditions = `[{"field":"severity","operator":"equals","value":"ERROR"}]`
				o.MetricLabels = `{"env":"prod"}`
				o.ExportType = "local"
				o.WindowSize = 120
			},
			steps: []string{"Read/pubsubio.Read", "Read/ToMessage", "Aggregate", "Window2m0s/Combine", "Window2m0s/Export"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := flagDefaults(t)
			o.Subscription = fakeSubscription
			tc.opts(o)
			job, model := dryRun(t, o)

			if job.Type != "JOB_TYPE_STREAMING" {
				t.Errorf("job type %q, want JOB_TYPE_STREAMING", job.Type)
			}
			if !slices.Contains(job.Environment.Experiments, "enable_streaming_engine") {
				t.Errorf("experiments %v lack enable_streaming_engine", job.Environment.Experiments)
			}
			if job.ProjectId != fakeProject || job.Name != "beametrics-dry-run" {
				t.Errorf("job project %q name %q, want %q and beametrics-dry-run", job.ProjectId, job.Name, fakeProject)
			}

			names, reads := transformNames(model)
			if len(reads) != 1 {
				t.Fatalf("want one native Pub/Sub read (beam:transform:pubsub_read:v1), got %d; transforms:\n%s", len(reads), strings.Join(names, "\n"))
			}
			var payload pipepb.PubSubReadPayload
			if err := proto.Unmarshal(reads[0].GetSpec().GetPayload(), &payload); err != nil {
				t.Fatalf("Pub/Sub read payload: %v", err)
			}
			if payload.GetSubscription() != fakeSubscription || !payload.GetWithAttributes() || payload.GetTopic() != "" {
				t.Errorf("Pub/Sub read payload = %v, want subscription %s with attributes", &payload, fakeSubscription)
			}
			if !strings.HasPrefix(reads[0].GetUniqueName(), "Read/pubsubio.Read/") {
				t.Errorf("the native read is named %q; its name must stay under Read/pubsubio.Read for --update", reads[0].GetUniqueName())
			}
			for _, want := range tc.steps {
				if !slices.Contains(names, want) {
					t.Errorf("no step %q; steps:\n%s", want, strings.Join(names, "\n"))
				}
			}
			if tc.exact && !reflect.DeepEqual(names, tc.steps) {
				t.Errorf("the job's steps changed; a running job then needs --transform_name_mapping or a new job (docs/dataflow.md).\ngot:\n%s\nwant:\n%s",
					strings.Join(names, "\n"), strings.Join(tc.steps, "\n"))
			}
			// The workers get the sink with their self-metrics on: the
			// Go SDK puts the DoFn, as JSON, base64-encoded in the payload.
			sinks := 0
			for _, tr := range model.GetComponents().GetTransforms() {
				if !strings.HasSuffix(tr.GetUniqueName(), "/exportsink.WriteFn") {
					continue
				}
				sinks++
				var pardo pipepb.ParDoPayload
				if err := proto.Unmarshal(tr.GetSpec().GetPayload(), &pardo); err != nil {
					t.Fatalf("%s: %v", tr.GetUniqueName(), err)
				}
				fn, err := base64.StdEncoding.DecodeString(string(pardo.GetDoFn().GetPayload()))
				if err != nil {
					t.Fatalf("%s: DoFn payload: %v", tr.GetUniqueName(), err)
				}
				if !bytes.Contains(fn, []byte(`"WorkerSelfMetrics":true`)) {
					t.Errorf("step %s: the serialized sink lacks WorkerSelfMetrics:true", tr.GetUniqueName())
				}
			}
			if sinks == 0 {
				t.Errorf("no exportsink.WriteFn step")
			}
			for _, n := range names {
				if strings.Contains(n, "prism") || strings.Contains(n, "pubsubread.Read") {
					t.Errorf("step %q belongs to the local source, not Dataflow", n)
				}
			}

			// Stable names: translating again gives the same steps, so a
			// relaunch with --update maps onto the running job.
			o2 := flagDefaults(t)
			o2.Subscription = fakeSubscription
			tc.opts(o2)
			_, model2 := dryRun(t, o2)
			names2, _ := transformNames(model2)
			if !reflect.DeepEqual(names, names2) {
				t.Errorf("step names differ between two translations of the same config:\n%v\n%v", names, names2)
			}
		})
	}
}

func TestDataflowBrokenConfigIsNotSubmitted(t *testing.T) {
	dir := t.TempDir()
	bad := dir + "/bad.yaml"
	if err := os.WriteFile(bad, []byte("metrics:\n  - name: x\n    type: sun\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	beam.Init()
	fakeGCS(t)
	setFlags(t, map[string]string{
		"runner": "dataflow", "project": fakeProject, "region": "europe-west1",
		"staging_location": "gs://fake-bucket/staging", "dry_run": "true",
	})
	logs := &captureLogger{}
	log.SetLogger(logs)
	t.Cleanup(func() { log.SetLogger(&log.Structural{}) })

	o := flagDefaults(t)
	o.Config, o.Subscription, o.Runner = bad, fakeSubscription, "dataflow"
	err := Run(context.Background(), o, &bytes.Buffer{})
	var exit *ExitError
	if !errors.As(err, &exit) || exit.Code != 2 {
		t.Fatalf("broken config: got %v, want a usage error (exit 2)", err)
	}
	if !strings.Contains(err.Error(), "sun") {
		t.Errorf("the error does not name the bad value: %v", err)
	}
	for _, m := range logs.messages() {
		if strings.HasPrefix(m, "Dry-run") {
			t.Fatalf("a broken config reached the Dataflow runner")
		}
	}
}

func TestPrepareDataflowListsMissingFlags(t *testing.T) {
	setFlags(t, map[string]string{"project": "", "region": "europe-west1", "staging_location": ""})
	pc := pubsubread.NewConfig(fakeSubscription)
	plan := &Plan{PubSub: &pc}
	err := prepareDataflow(context.Background(), plan, &Options{})
	if err == nil {
		t.Fatal("no error without --project and --staging_location")
	}
	msg := err.Error()
	if !strings.Contains(msg, "missing: --project, --staging_location") || strings.Contains(msg, "missing: --project, --region") {
		t.Errorf("message %q should list exactly --project and --staging_location as missing", msg)
	}
	var exit *ExitError
	if !errors.As(err, &exit) || exit.Code != 2 {
		t.Errorf("want a usage error (exit 2), got %v", err)
	}
	if plan.ReadRecords != nil {
		t.Error("the plan was changed although the flags are missing")
	}
}

func TestPrepareDataflowRefusesWorkerLocalOutputs(t *testing.T) {
	setFlags(t, map[string]string{"project": fakeProject, "region": "europe-west1", "staging_location": "gs://b/s"})
	for _, tc := range []struct {
		name string
		plan Plan
		want string
	}{
		{"dead letter file", Plan{DeadLetter: "/tmp/dead.jsonl"}, "--dead-letter /tmp/dead.jsonl"},
		{"scrape endpoint", Plan{Exporters: exporters.Settings{PrometheusListen: ":9464"}}, "--prometheus-listen"},
		{"local file", Plan{Exporters: exporters.Settings{Local: exporters.LocalSettings{Path: "/tmp/points.jsonl"}}}, "--local-output /tmp/points.jsonl"},
	} {
		err := prepareDataflow(context.Background(), &tc.plan, &Options{})
		var exit *ExitError
		if !errors.As(err, &exit) || exit.Code != 2 || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want a usage error naming %q", tc.name, err, tc.want)
		}
	}
	ok := Plan{DeadLetter: "projects/p/topics/dead", Exporters: exporters.Settings{Local: exporters.LocalSettings{Path: "-"}}}
	if err := prepareDataflow(context.Background(), &ok, &Options{}); err != nil {
		t.Errorf("a topic and standard output: %v", err)
	}
}

func TestSplitSubscription(t *testing.T) {
	p, s, err := splitSubscription("projects/p-1/subscriptions/logs.sub")
	if err != nil || p != "p-1" || s != "logs.sub" {
		t.Errorf("got %q %q %v", p, s, err)
	}
	for _, bad := range []string{"", "logs", "projects/p/topics/t", "projects//subscriptions/s", "projects/p/subscriptions/", "projects/p/subscriptions/s/x"} {
		if _, _, err := splitSubscription(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// The native source's element timestamp is the message's time; a
// publish_time, when the message has one, only adds precision to it.
func TestMessageFromPubsub(t *testing.T) {
	ctx := context.Background()
	published := time.Date(2025, 11, 24, 16, 0, 5, 123456789, time.UTC)
	elementTime := mtime.FromTime(published) // milliseconds, as the runner keeps it
	millis := time.Date(2025, 11, 24, 16, 0, 5, 123000000, time.UTC)
	for _, tc := range []struct {
		name string
		et   beam.EventTime
		msg  *pb.PubsubMessage
		want time.Time
	}{
		{"data and attributes only, as on Dataflow", elementTime,
			&pb.PubsubMessage{Data: []byte(`{"user":"dummy"}`), Attributes: map[string]string{"source": "app"}}, millis},
		{"publish_time agrees: its precision is kept", elementTime,
			&pb.PubsubMessage{MessageId: "42", Data: []byte(`{}`), PublishTime: timestamppb.New(published)}, published},
		{"publish_time disagrees: the element timestamp wins", elementTime,
			&pb.PubsubMessage{MessageId: "43", PublishTime: timestamppb.New(published.Add(-time.Hour))}, millis},
		{"no element timestamp: the publish_time", mtime.MinTimestamp,
			&pb.PubsubMessage{MessageId: "44", PublishTime: timestamppb.New(published)}, published},
	} {
		got := messageFromPubsub(ctx, tc.et, tc.msg)
		if !got.PublishTime.Equal(tc.want) {
			t.Errorf("%s: time %v, want %v", tc.name, got.PublishTime, tc.want)
		}
		if got.ID != tc.msg.GetMessageId() || string(got.Data) != string(tc.msg.GetData()) || !reflect.DeepEqual(got.Attributes, tc.msg.GetAttributes()) {
			t.Errorf("%s: got %+v from %v", tc.name, got, tc.msg)
		}
	}
}

// strictSink is a strict fake of every exporter for the worker
// self-metrics test. Like Cloud Monitoring it refuses (notes as a
// problem) a point of a metric not given to Start or with a label its
// descriptor does not declare, and an Export before Start or after Close.
type strictSink struct {
	mu       sync.Mutex
	points   map[string][]metricdata.Point // by export type
	starts   map[string]int                // Start calls by export type
	problems []string
}

type strictExporter struct {
	s       *strictSink
	typ     string
	descs   map[string]metricdata.Descriptor
	started bool
	closed  bool
}

func (e *strictExporter) Start(_ context.Context, descs []metricdata.Descriptor) error {
	e.s.mu.Lock()
	defer e.s.mu.Unlock()
	if e.started {
		e.s.problems = append(e.s.problems, e.typ+": Start twice")
	}
	e.started = true
	e.s.starts[e.typ]++
	for _, d := range descs {
		e.descs[d.Name] = d
	}
	return nil
}

func (e *strictExporter) Export(_ context.Context, points []metricdata.Point) error {
	e.s.mu.Lock()
	defer e.s.mu.Unlock()
	if !e.started || e.closed {
		e.s.problems = append(e.s.problems, fmt.Sprintf("%s: Export with started=%v closed=%v", e.typ, e.started, e.closed))
	}
	for _, p := range points {
		d, ok := e.descs[p.Metric]
		if !ok {
			e.s.problems = append(e.s.problems, e.typ+": point of undeclared metric "+p.Metric)
			continue
		}
		for _, l := range p.Labels {
			if !slices.Contains(d.LabelNames, l.Name) {
				e.s.problems = append(e.s.problems, fmt.Sprintf("%s: %s has label %q, its descriptor declares %v", e.typ, p.Metric, l.Name, d.LabelNames))
			}
		}
		e.s.points[e.typ] = append(e.s.points[e.typ], p)
	}
	return nil
}

func (e *strictExporter) Close() error {
	e.s.mu.Lock()
	defer e.s.mu.Unlock()
	e.closed = true
	return nil
}

const workerSelfMetricsConfig = `
event_time_field: time
window: 10s
exporters:
  prometheus_remote_write: {url: "http://127.0.0.1:9/api/v1/write"}
metrics:
  - {name: requests, type: count, dynamic_labels: {service: service}, export_type: local}
  - {name: bytes, type: sum, field: bytes, export_type: prometheus}
`

// A plan prepared for Dataflow (worker self-metrics on, the source
// replaced by a test stream) runs on prism in this process, which then
// plays a Dataflow worker: its self-metrics reach both export types with
// the worker label, and over all windows they add up to what was published
// (events read, dead letters by reason) and exported (points, windows).
func TestDataflowWorkerSelfMetricsOnPrism(t *testing.T) {
	fake := &strictSink{points: map[string][]metricdata.Point{}, starts: map[string]int{}}
	if err := exportsink.CloseAll(); err != nil {
		t.Fatal(err)
	}
	oldNew := exportsink.NewExporter
	exportsink.NewExporter = func(_ context.Context, typ string, _ exporters.Settings) (exporters.Exporter, error) {
		return &strictExporter{s: fake, typ: typ, descs: map[string]metricdata.Descriptor{}}, nil
	}
	t.Cleanup(func() { _ = exportsink.CloseAll(); exportsink.NewExporter = oldNew })

	o := flagDefaults(t)
	o.Config = t.TempDir() + "/metrics.yaml"
	if err := os.WriteFile(o.Config, []byte(workerSelfMetricsConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	o.Subscription = fakeSubscription
	plan, err := Prepare(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	enableWorkerSelfMetrics(plan) // as prepareDataflow does
	if !plan.WorkerSelfMetrics {
		t.Fatalf("worker self-metrics not enabled; warnings: %v", plan.Config.Warnings)
	}

	t0 := time.Date(2025, 11, 24, 16, 0, 0, 0, time.UTC)
	bodies := []string{
		`{"time":"2025-11-24T16:00:01Z","service":"auth","bytes":3}`,
		`{"time":"2025-11-24T16:00:02Z","service":"auth","bytes":4}`,
		`not json`,
		`{"time":"2025-11-24T16:00:12Z","service":"checkout","bytes":5}`,
		`[1, 2]`,
		`{"time":"2025-11-24T16:00:13Z","service":"auth","bytes":6}`,
		`{"time":"2025-11-24T16:00:25Z","service":"checkout","bytes":7}`,
		`{"oops"`,
	}
	const published, invalidJSON, notObject = 5, 2, 1
	records := beamtest.NewRecords(t)
	for i, b := range bodies {
		records.Add(t0.Add(time.Duration(i)*4*time.Second), b)
	}
	plan.ReadRecords = records.Source()

	eventsBefore := selfmetrics.Events.Load()
	deadBefore := selfmetrics.DeadLettersByReason.Snapshot()
	beamtest.Run(t, func(s beam.Scope) error { return Build(s, plan) })
	// A worker's reporter runs until its process ends; here the last
	// window so far is exported by stopping it.
	selfmetrics.StopWorker()
	pointsTotal := selfmetrics.PointsByExporter.Snapshot()
	windowsTotal := selfmetrics.WindowsByExporter.Snapshot()

	fake.mu.Lock()
	defer fake.mu.Unlock()
	for _, pr := range fake.problems {
		t.Errorf("exporter misuse: %s", pr)
	}
	worker := metricdata.Label{Name: selfmetrics.WorkerLabel, Value: selfmetrics.WorkerID()}
	metricPoints := map[string]int64{}
	for _, typ := range []string{exporters.TypeLocal, exporters.TypeRemoteWrite} {
		// The sink's exporter and the reporter's, one each.
		if fake.starts[typ] != 2 {
			t.Errorf("%s: Start called %d times, want 2 (the sink's exporter and one reporter's)", typ, fake.starts[typ])
		}
		// sums: self-metric series (labels without the worker) -> total
		// over windows; windows: their [start, end) in order.
		sums := map[string]int64{}
		var windows []metricdata.Point
		for _, pt := range fake.points[typ] {
			if !strings.HasPrefix(pt.Metric, selfmetrics.Prefix) {
				metricPoints[typ]++
				if slices.Contains(pt.Labels, worker) {
					t.Errorf("%s: metric point %s carries the worker label", typ, pt.Metric)
				}
				continue
			}
			if !slices.Contains(pt.Labels, worker) {
				t.Errorf("%s: self-metric point %s %v without %v", typ, pt.Metric, pt.Labels, worker)
			}
			var ls []string
			for _, l := range pt.Labels {
				if l.Name != selfmetrics.WorkerLabel {
					ls = append(ls, l.Name+"="+l.Value)
				}
			}
			sums[pt.Metric+"{"+strings.Join(ls, ",")+"}"] += pt.Int
			if pt.Metric == selfmetrics.MetricEventsRead {
				windows = append(windows, pt)
			}
		}
		for i := 1; i < len(windows); i++ {
			if !windows[i].Start.Equal(windows[i-1].End) {
				t.Errorf("%s: self-metric windows %v-%v and %v-%v are not back to back", typ,
					windows[i-1].Start, windows[i-1].End, windows[i].Start, windows[i].End)
			}
		}
		checks := []struct {
			series string
			got    int64
			want   int64
		}{
			{"beametrics/events_read{}", sums["beametrics/events_read{}"] - eventsBefore, published},
			{"beametrics/dead_letters{reason=invalid_json}", sums["beametrics/dead_letters{reason=invalid_json}"] - deadBefore["invalid_json"], invalidJSON},
			{"beametrics/dead_letters{reason=not_an_object}", sums["beametrics/dead_letters{reason=not_an_object}"] - deadBefore["not_an_object"], notObject},
			{"beametrics/points_exported{exporter=local}", sums["beametrics/points_exported{exporter=local}"], pointsTotal["local"]},
			{"beametrics/points_exported{exporter=prometheus}", sums["beametrics/points_exported{exporter=prometheus}"], pointsTotal["prometheus"]},
			{"beametrics/windows_exported{exporter=local}", sums["beametrics/windows_exported{exporter=local}"], windowsTotal["local"]},
			{"beametrics/windows_exported{exporter=prometheus}", sums["beametrics/windows_exported{exporter=prometheus}"], windowsTotal["prometheus"]},
		}
		for _, c := range checks {
			if c.got != c.want {
				t.Errorf("%s: %s adds up to %d (this run), want %d", typ, c.series, c.got, c.want)
			}
		}
		if len(windows) == 0 {
			t.Errorf("%s: no self-metric window exported", typ)
		}
		if t.Failed() {
			t.Logf("%s self-metric sums: %v", typ, sums)
		}
	}
	// This run's metric points are counted in the process totals the
	// self-metrics carried: requests 3 series-windows, bytes 3 windows.
	if metricPoints["local"] != 4 || metricPoints["prometheus"] != 3 {
		t.Errorf("metric points: %v, want local 4 (auth and checkout over 16:00:00-16:00:30) and prometheus 3", metricPoints)
	}
}

// prepareDataflow turns worker self-metrics on, or, when they cannot be
// exported next to the metrics, off with a warning the launch prints.
func TestPrepareDataflowWorkerSelfMetrics(t *testing.T) {
	setFlags(t, map[string]string{
		"project": fakeProject, "region": "europe-west1", "staging_location": "gs://b/s",
		"worker_binary": "/opt/beametrics-linux-amd64",
	})
	for _, tc := range []struct {
		name, yaml string
		on         bool
	}{
		{"quick start", "", true},
		{"colliding name", "window: 10s\nmetrics:\n  - {name: beametrics/events_read, type: count, export_type: local}\n", false},
	} {
		o := flagDefaults(t)
		o.Subscription = fakeSubscription
		o.Config = "../examples/quickstart.yaml"
		if tc.yaml != "" {
			o.Config = t.TempDir() + "/c.yaml"
			if err := os.WriteFile(o.Config, []byte(tc.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		plan, err := Prepare(context.Background(), o)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if err := prepareDataflow(context.Background(), plan, o); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if plan.WorkerSelfMetrics != tc.on {
			t.Errorf("%s: WorkerSelfMetrics = %v, want %v", tc.name, plan.WorkerSelfMetrics, tc.on)
		}
		warned := strings.Contains(plan.Config.Warnings.Error(), "self-metrics off on the workers")
		if warned == tc.on {
			t.Errorf("%s: warnings %q; want a self-metrics warning exactly when they are off", tc.name, plan.Config.Warnings.Error())
		}
	}
}
