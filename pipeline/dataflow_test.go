package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
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
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	pipepb "github.com/apache/beam/sdks/v2/go/pkg/beam/model/pipeline_v1"
	df "google.golang.org/api/dataflow/v1b3"
	pb "google.golang.org/genproto/googleapis/pubsub/v1"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/beametrics/beametrics/exporters"
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
		"worker_binary":    "",
		// A prism run earlier in this test binary leaves its loopback
		// environment in Beam's global flags; Dataflow needs the default.
		"environment_type":   "",
		"environment_config": "",
	})
	logs := &captureLogger{}
	log.SetLogger(logs)
	t.Cleanup(func() { log.SetLogger(&log.Structural{}) })

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
			exe, _ := os.Executable()
			if got := flag.Lookup("worker_binary").Value.String(); got != exe {
				t.Errorf("--worker_binary = %q, want the running executable %q", got, exe)
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
	o.Config, o.Subscription = bad, fakeSubscription
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

func TestPrepareDataflowKeepsGivenWorkerBinary(t *testing.T) {
	setFlags(t, map[string]string{
		"project": fakeProject, "region": "europe-west1", "staging_location": "gs://b/s",
		"worker_binary": "/opt/beametrics-linux-amd64",
	})
	if err := prepareDataflow(context.Background(), &Plan{}, &Options{}); err != nil {
		t.Fatal(err)
	}
	if got := flag.Lookup("worker_binary").Value.String(); got != "/opt/beametrics-linux-amd64" {
		t.Errorf("--worker_binary = %q, want the given path", got)
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

func TestMessageFromPubsub(t *testing.T) {
	published := time.Date(2025, 11, 24, 16, 0, 5, 123000000, time.UTC)
	got := messageFromPubsub(&pb.PubsubMessage{
		MessageId:   "42",
		Data:        []byte(`{"user":"dummy"}`),
		Attributes:  map[string]string{"source": "app"},
		PublishTime: timestamppb.New(published),
	})
	if got.ID != "42" || string(got.Data) != `{"user":"dummy"}` || got.Attributes["source"] != "app" || !got.PublishTime.Equal(published) {
		t.Errorf("got %+v", got)
	}
	if m := messageFromPubsub(&pb.PubsubMessage{MessageId: "1"}); !m.PublishTime.IsZero() {
		t.Errorf("a message without publish time got %v, want the zero time", m.PublishTime)
	}
}
