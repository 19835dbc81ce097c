package local

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/beametrics/beametrics/exporters"
	"github.com/beametrics/beametrics/internal/metricdata"
	"github.com/beametrics/beametrics/internal/testing/childtest"
)

const sigpipeChildEnv = "BEAMETRICS_LOCAL_SIGPIPE_CHILD"

// TestStdoutClosedByReader runs a child process (this test binary) whose
// standard output is a real pipe that the test closes after one line, as
// `| head -1` does. Without SIGPIPE handled the child dies of the signal;
// with it, the child sees the points counted as output_closed and
// OutputClosed closed, and ends by itself.
func TestStdoutClosedByReader(t *testing.T) {
	if os.Getenv(sigpipeChildEnv) == "1" {
		sigpipeChild()
		return
	}
	cmd := childtest.Command("TestStdoutClosedByReader", sigpipeChildEnv+"=1")
	r, stderr := childtest.StartPiped(t, cmd)
	line, err := bufio.NewReader(r).ReadString('\n')
	r.Close() // the reader goes away
	if err != nil || !strings.HasPrefix(line, `{"metric_name":"m"`) {
		t.Errorf("first line %q, %v", line, err)
	}
	err = cmd.Wait()
	if err != nil {
		t.Fatalf("child: %v (killed by SIGPIPE?)\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "child: output closed; lost ") || !strings.Contains(stderr.String(), "output_closed x1 (e.g. m{}: the output was closed by its reader)") {
		t.Errorf("child's stderr:\n%s", stderr.String())
	}
}

func sigpipeChild() {
	e := Stdout()
	p := metricdata.Point{Metric: "m", Start: time.Unix(0, 0), End: time.Unix(60, 0), Type: metricdata.Int64, Int: 1}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		err := e.Export(context.Background(), []metricdata.Point{p})
		var ee *exporters.ExportError
		if errors.As(err, &ee) && ee.Failed[0].Code == CodeOutputClosed {
			select {
			case <-OutputClosed():
				fmt.Fprintf(os.Stderr, "child: output closed; lost %d: %v\n", LostToClosedOutput(), err)
				os.Exit(0)
			default:
				fmt.Fprintln(os.Stderr, "child: output_closed but OutputClosed not closed")
				os.Exit(4)
			}
		}
		time.Sleep(time.Millisecond)
	}
	fmt.Fprintln(os.Stderr, "child: the output never closed")
	os.Exit(3)
}
