package pipeline_test

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/beametrics/beametrics/pipeline"
)

// grpcServers counts the goroutines serving a gRPC server: the embedded
// Pub/Sub server runs one.
func grpcServers() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "google.golang.org/grpc.(*Server).Serve(")
		}
		buf = make([]byte, 2*len(buf))
	}
}

// A quick start whose topic cannot be created (here: the caller gave up)
// fails, and leaves no in-process server behind.
func TestStartEmbeddedFailureReleasesServer(t *testing.T) {
	before := grpcServers()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	e, err := pipeline.StartEmbedded(ctx, 10)
	if err == nil {
		e.Stop()
		t.Fatal("StartEmbedded with a cancelled context succeeded")
	}
	if !strings.Contains(err.Error(), "embedded Pub/Sub") {
		t.Errorf("error %q does not say what failed", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for grpcServers() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d gRPC servers still serving, %d before StartEmbedded", grpcServers(), before)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
