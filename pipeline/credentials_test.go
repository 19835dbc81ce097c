package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cloud.google.com/go/auth/credentials"

	"github.com/beametrics/beametrics/pipeline"
)

// withoutCredentials points every place Application Default Credentials
// are looked for at an empty directory, and skips where credentials are
// found anyway (on Google Cloud, the metadata server has them).
func withoutCredentials(t *testing.T) {
	t.Helper()
	t.Setenv("HOME", t.TempDir())
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", "")
	t.Setenv("PUBSUB_EMULATOR_HOST", "")
	if _, err := credentials.DetectDefault(&credentials.DetectOptions{Scopes: []string{"https://www.googleapis.com/auth/cloud-platform"}}); err == nil {
		t.Skip("credentials are found without a home directory (a Google Cloud machine?): cannot test their absence here")
	}
}

// Without credentials, a run that needs Google Cloud fails before anything
// starts, with one line: the cause first, then what needs them and what to
// do.
func TestMissingCredentialsCauseFirst(t *testing.T) {
	withoutCredentials(t)
	logs := filepath.Join(t.TempDir(), "logs.jsonl")
	if err := os.WriteFile(logs, []byte(`{"time":"2025-11-24T16:00:01Z","service":"a"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		args  []string
		wants []string
	}{
		{"stream", []string{"--config", "../examples/quickstart.yaml", "--subscription", "projects/p/subscriptions/s"},
			[]string{"needed to stream from projects/p/subscriptions/s", "PUBSUB_EMULATOR_HOST"}},
		{"replay to Cloud Monitoring", []string{"--config", "../examples/quickstart.yaml", "--input", logs,
			"--export-type", "google-cloud-monitoring", "--monitoring-project", "p"},
			[]string{"needed to export to Cloud Monitoring", "--export-type local"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			err := pipeline.Run(context.Background(), optionsFromArgs(t, tc.args...), &stderr)
			var exit *pipeline.ExitError
			if !errors.As(err, &exit) || exit.Code != 2 {
				t.Fatalf("Run: %v, want an exit 2 error", err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "could not find default credentials, ") || strings.Contains(msg, "\n") {
				t.Errorf("error %q: want one line starting with the cause", msg)
			}
			for _, want := range append(tc.wants, "gcloud auth application-default login") {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q lacks %q", msg, want)
				}
			}
			if stderr.Len() != 0 {
				t.Errorf("something started before the check; stderr:\n%s", stderr.String())
			}
		})
	}
}
