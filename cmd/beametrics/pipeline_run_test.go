package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/beametrics/beametrics/pipeline"
)

// setFlag sets one of Beam's global flags for a test and restores it after.
func setFlag(t *testing.T, name, value string) {
	t.Helper()
	f := flag.Lookup(name)
	if f == nil {
		t.Fatalf("no --%s flag registered", name)
	}
	old := f.Value.String()
	t.Cleanup(func() { _ = f.Value.Set(old) })
	if err := f.Value.Set(value); err != nil {
		t.Fatal(err)
	}
}

func TestResolveRunner(t *testing.T) {
	for _, c := range []struct{ flag, want string }{{"", "prism"}, {"direct", "prism"}, {"prism", "prism"}, {"dataflow", "dataflow"}} {
		setFlag(t, "runner", c.flag)
		if got := resolveRunner(); got != c.want {
			t.Errorf("--runner=%q: %q, want %q", c.flag, got, c.want)
		}
	}
}

// --runner=direct runs a replay on prism and says so.
func TestLaunchDirectMeansPrism(t *testing.T) {
	beam.Init()
	setFlag(t, "runner", "direct")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.yaml")
	input := filepath.Join(dir, "in.jsonl")
	out := filepath.Join(dir, "out.jsonl")
	if err := os.WriteFile(cfg, []byte("event_time_field: time\nmetrics:\n  - {name: requests, type: count, export_type: local}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(input, []byte(`{"time":"2025-11-24T16:00:01Z","service":"checkout"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	o := &pipeline.Options{Config: cfg, Inputs: []string{input}}
	o.Exporters.Local.Path = out
	var stderr bytes.Buffer
	if err := launch(context.Background(), o, &stderr); err != nil {
		t.Fatalf("--runner=direct: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "runner prism") {
		t.Errorf("stderr does not say the runner is prism:\n%s", stderr.String())
	}
	got, err := os.ReadFile(out)
	if err != nil || !strings.Contains(string(got), `"metric_name":"requests","labels":{},"value":1,`) {
		t.Errorf("output %q (%v), want requests = 1", got, err)
	}
}

// Without --worker_binary a Dataflow launch stages the running executable;
// a given one is kept.
func TestDefaultWorkerBinary(t *testing.T) {
	setFlag(t, "worker_binary", "/opt/beametrics-linux-amd64")
	if err := defaultWorkerBinary(); err != nil {
		t.Fatal(err)
	}
	if got := flag.Lookup("worker_binary").Value.String(); got != "/opt/beametrics-linux-amd64" {
		t.Errorf("--worker_binary = %q, want the given path", got)
	}
	setFlag(t, "worker_binary", "")
	err := defaultWorkerBinary()
	exe, exeErr := os.Executable()
	switch {
	case exeErr != nil:
		t.Skipf("os.Executable: %v", exeErr)
	case err != nil && !strings.Contains(err.Error(), "linux/amd64"):
		t.Fatal(err)
	case err == nil && flag.Lookup("worker_binary").Value.String() != exe:
		t.Errorf("--worker_binary = %q, want the running executable %q", flag.Lookup("worker_binary").Value.String(), exe)
	}
}
