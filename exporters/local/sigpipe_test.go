package local

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/beametrics/beametrics/exporters"
	"github.com/beametrics/beametrics/internal/metricdata"
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
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestStdoutClosedByReader$")
	cmd.Env = append(os.Environ(), sigpipeChildEnv+"=1")
	cmd.Stdout = w
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
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
