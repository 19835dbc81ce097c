package pipeline_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"

	"github.com/beametrics/beametrics/internal/loggen"
	"github.com/beametrics/beametrics/internal/selfmetrics"
	"github.com/beametrics/beametrics/internal/testing/processenv"
	"github.com/beametrics/beametrics/internal/testing/pubsubtest"
	"github.com/beametrics/beametrics/internal/testing/runoutput"
	"github.com/beametrics/beametrics/internal/testing/syncbuf"
)

// The worker-process suite: beametrics runs as a subprocess (the launcher)
// and prism starts its workers as further processes through Beam's boot
// loader, as Dataflow does. Whatever runs on workers must pass here.

// launch is a running beametrics launcher.
type launch struct {
	cmd            *exec.Cmd
	stdout, stderr *syncbuf.Buffer
	exited         chan struct{}
	err            error
}

// startLaunch runs beametrics with args and the worker-process flags.
func startLaunch(t *testing.T, env []string, args ...string) *launch {
	t.Helper()
	pe := processenv.Get(t)
	l := &launch{stdout: &syncbuf.Buffer{}, stderr: &syncbuf.Buffer{}, exited: make(chan struct{})}
	l.cmd = exec.Command(pe.Binary, append(args, pe.Flags()...)...)
	l.cmd.Env = append(os.Environ(), env...)
	l.cmd.Stdout, l.cmd.Stderr = l.stdout, l.stderr
	// A worker left behind would hold the pipes open: Wait returns anyway,
	// and the test then fails on it.
	l.cmd.WaitDelay = 10 * time.Second
	// Its own process group, so that nothing it starts outlives the test.
	l.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := l.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { l.err = l.cmd.Wait(); close(l.exited) }()
	t.Cleanup(func() {
		select {
		case <-l.exited:
		default:
			_ = syscall.Kill(-l.cmd.Process.Pid, syscall.SIGKILL)
			<-l.exited
		}
	})
	return l
}

// wait waits up to d for the launcher to exit and returns its exit code.
func (l *launch) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-l.exited:
	case <-time.After(d):
		_ = syscall.Kill(-l.cmd.Process.Pid, syscall.SIGKILL)
		<-l.exited
		t.Fatalf("beametrics did not exit within %v\nstderr:\n%s", d, tail(l.stderr.String()))
	}
	if errors.Is(l.err, exec.ErrWaitDelay) {
		t.Errorf("a process beametrics started (a worker) outlived it by more than 10 s, holding its output open")
	}
	return l.cmd.ProcessState.ExitCode()
}

func tail(s string) string {
	if len(s) > 6000 {
		return "...\n" + s[len(s)-6000:]
	}
	return s
}

// metricLines splits the launcher's standard output into the local
// exporter's JSON lines and anything else (which must not be there).
func metricLines(t *testing.T, stdout string) []string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(stdout, "\n") {
		if l == "" {
			continue
		}
		if !json.Valid([]byte(l)) || !strings.HasPrefix(l, `{"metric_name":`) {
			t.Errorf("standard output holds a line that is not a metric point: %q", l)
			continue
		}
		out = append(out, l)
	}
	return out
}

// A replay with the workers in their own processes: every value as the
// oracle of TestReplayFile computes it, every dead letter in the file, and
// nothing but metric points on standard output.
func TestWorkerProcessReplay(t *testing.T) {
	const n = 20_000
	input, good := replayInput(t, loggen.New(43, time.Date(2025, 11, 24, 16, 0, 0, 0, time.UTC), 60*time.Millisecond), n)
	dir := t.TempDir()
	out, dead := dir+"/metrics.jsonl", dir+"/dead.jsonl"

	l := startLaunch(t, nil, "--config=testdata/replay.yaml", "--input="+input, "--dead-letter="+dead, "--local-output="+out)
	if code := l.wait(t, 5*time.Minute); code != 0 {
		t.Fatalf("exit %d\nstderr:\n%s", code, tail(l.stderr.String()))
	}
	metricLines(t, l.stdout.String()) // nothing but points, here none
	checkReplayOutput(t, out, expectReplay(t, good))
	checkDeadLetters(t, dead, input, badLines)
	// The launcher's summary adds up the job's Beam counters: the true
	// counts, although no event was read in the launcher's process.
	if want := fmt.Sprintf(" %d events (", n); !strings.Contains(l.stderr.String(), want) {
		t.Errorf("the summary does not say %q", want)
	}
	if want := fmt.Sprintf(", %d dead letters,", len(badLines)); !strings.Contains(l.stderr.String(), want) {
		t.Errorf("the summary does not say %q", want)
	}
	if t.Failed() {
		t.Logf("stderr:\n%s", tail(l.stderr.String()))
	}
}

const workerStreamConfig = livenessMetric + `  - name: bytes_total
    type: sum
    field: bytes
    kind: cumulative
    dynamic_labels: {pipeline_id: pipeline-id}
    export_type: local
`

// Streaming from Pub/Sub (pstest) with the workers in their own processes:
// the workers' self-metrics count every message, SIGINT to the launcher
// drains them (every window exported, absence zero-filled, running totals
// from state and timers), the bad records go to a dead-letter topic and
// every message is acked once.
func TestWorkerProcessStreaming(t *testing.T) {
	srv := pubsubtest.StartFake(t)
	c := e2eSubscription(t, srv, time.Minute)
	pubsubtest.CreateTopic(t, c, "projects/e2e/topics/dead")

	// Six 10 s windows starting two minutes ahead: none closes before the
	// drain, however slow the machine. Route 0 beats at seconds 0, 3, 6,
	// 9 of every window with 2 bytes; route 1 in the first three only.
	t0 := time.Now().UTC().Truncate(10 * time.Second).Add(2 * time.Minute)
	const windows = 6
	var msgs []*pubsub.Message
	for w := 0; w < windows; w++ {
		for s := 0; s < 10; s += 3 {
			at := t0.Add(time.Duration(w)*10*time.Second + time.Duration(s)*time.Second).Format(time.RFC3339Nano)
			msgs = append(msgs, &pubsub.Message{Data: []byte(fmt.Sprintf(
				`{"time":%q,"pipeline-id":"0","pipeline-env":"blue","user_agent":"beametrics-dummy","bytes":2}`, at))})
			if w <= 2 {
				msgs = append(msgs, &pubsub.Message{Data: []byte(fmt.Sprintf(
					`{"time":%q,"pipeline-id":"1","pipeline-env":"blue","user_agent":"beametrics-dummy"}`, at))})
			}
		}
	}
	good := len(msgs)
	badReasons := map[string]string{`not json`: "invalid_json", `[1]`: "not_an_object", `"just a string"`: "not_an_object"}
	for data := range badReasons {
		msgs = append(msgs, &pubsub.Message{Data: []byte(data)})
	}
	pubsubtest.Publish(t, c, e2eTopic, msgs)

	cfg := writeFile(t, "stream.yaml", []byte(workerStreamConfig))
	l := startLaunch(t, []string{"PUBSUB_EMULATOR_HOST=" + srv.Addr},
		"--config="+cfg, "--subscription="+e2eSub, "--dead-letter=projects/e2e/topics/dead",
		"--max-delay=2s", "--pullers=1", "--progress-interval=0")

	// The workers' self-metrics (every 10 s of processing time) tell when
	// every message was read.
	launcher := strconv.Itoa(l.cmd.Process.Pid)
	var read, deadRead int64
	workers := map[string]bool{}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		read, deadRead = 0, 0
		for _, line := range strings.Split(l.stdout.String(), "\n") {
			p, err := runoutput.ParsePoint([]byte(line))
			if err != nil || !strings.HasPrefix(p.Metric, selfmetrics.Prefix) {
				continue // a line still being written, or not a self-metric
			}
			workers[p.Labels[selfmetrics.WorkerLabel]] = true
			switch p.Metric {
			case selfmetrics.MetricEventsRead:
				read += int64(p.Number(t))
			case selfmetrics.MetricDeadLetters:
				deadRead += int64(p.Number(t))
			}
		}
		if read == int64(good) && deadRead == int64(len(badReasons)) {
			break
		}
		select {
		case <-l.exited:
			t.Fatalf("beametrics ended before the drain: %v\nstderr:\n%s", l.err, tail(l.stderr.String()))
		case <-time.After(500 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 3 minutes the workers' self-metrics count %d events and %d dead letters, want %d and %d\nstdout:\n%s\nstderr:\n%s",
				read, deadRead, good, len(badReasons), tail(l.stdout.String()), tail(l.stderr.String()))
		}
	}
	for w := range workers {
		if w == "" || strings.HasSuffix(w, "-"+launcher) {
			t.Errorf("self-metrics of worker %q: want a worker's own host-pid label, not the launcher's (pid %s)", w, launcher)
		}
	}

	if err := l.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if code := l.wait(t, 3*time.Minute); code != 0 {
		t.Fatalf("drain: exit %d\nstderr:\n%s", code, tail(l.stderr.String()))
	}

	var got []string
	for _, line := range metricLines(t, l.stdout.String()) {
		p, err := runoutput.ParsePoint([]byte(line))
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		if strings.HasPrefix(p.Metric, selfmetrics.Prefix) {
			continue
		}
		got = append(got, fmt.Sprintf("%s %s w%d-w%d %g", p.Metric, p.Labels["pipeline_id"],
			int(p.WindowStart.Sub(t0)/(10*time.Second)), int(p.WindowEnd.Sub(t0)/(10*time.Second)), p.Number(t)))
	}
	var want []string
	for w := 0; w < windows; w++ {
		want = append(want, fmt.Sprintf("pipeline-liveness 0 w%d-w%d 4", w, w+1))
		route1, since := 4, 0
		if w > 2 {
			route1, since = 0, 10*(w-2) // stopped: an explicit zero, and the silence so far
		}
		want = append(want, fmt.Sprintf("pipeline-liveness 1 w%d-w%d %d", w, w+1, route1))
		want = append(want, fmt.Sprintf("pipeline-liveness/seconds_since_last_seen 0 w%d-w%d 0", w, w+1))
		want = append(want, fmt.Sprintf("pipeline-liveness/seconds_since_last_seen 1 w%d-w%d %d", w, w+1, since))
		// The running total of route 0 since the first window: 4 beats
		// of 2 bytes a window.
		want = append(want, fmt.Sprintf("bytes_total 0 w0-w%d %d", w+1, 8*(w+1)))
	}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("exported points:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	deadLetters := map[string]string{}
	for _, m := range srv.Fake.Messages() {
		if r := m.Attributes["beametrics-reason"]; r != "" {
			if _, dup := deadLetters[string(m.Data)]; dup {
				t.Errorf("dead letter %q published twice", m.Data)
			}
			deadLetters[string(m.Data)] = r
			continue
		}
		if m.Deliveries != 1 || m.Acks < 1 {
			t.Errorf("message %s: %d deliveries, %d acks; want 1 delivery and an ack", m.ID, m.Deliveries, m.Acks)
		}
	}
	if fmt.Sprint(deadLetters) != fmt.Sprint(badReasons) {
		t.Errorf("dead letters on the topic: %v, want %v", deadLetters, badReasons)
	}
	if t.Failed() {
		t.Logf("stderr:\n%s", tail(l.stderr.String()))
	}
}

// A worker process that dies fails the job: the launcher exits 1 and shows
// the worker's own error, instead of waiting for it forever.
func TestWorkerProcessFailureFailsTheJob(t *testing.T) {
	pe := processenv.Get(t)
	input := writeFile(t, "in.jsonl", []byte(oneLine))
	cfg := writeFile(t, "c.yaml", []byte(goodConfig))
	dying := writeFile(t, "dying-worker", []byte("#!/bin/sh\necho 'worker: cannot open the socket (a test of a dying worker)' >&2\nexit 3\n"))
	if err := os.Chmod(dying, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		flags []string
		shown string // in the launcher's standard error
	}{
		{"the worker exits", []string{"--worker_binary=" + dying}, "worker: cannot open the socket"},
		{"the boot loader cannot start", []string{`--environment_config={"command":"/nonexistent/boot"}`}, "/nonexistent/boot"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Later flags win: these replace the environment's.
			args := append([]string{"--config=" + cfg, "--input=" + input, "--local-output=" + t.TempDir() + "/out.jsonl"}, pe.Flags()...)
			l := &launch{stdout: &syncbuf.Buffer{}, stderr: &syncbuf.Buffer{}, exited: make(chan struct{})}
			l.cmd = exec.Command(pe.Binary, append(args, tc.flags...)...)
			l.cmd.Stdout, l.cmd.Stderr = l.stdout, l.stderr
			l.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			if err := l.cmd.Start(); err != nil {
				t.Fatal(err)
			}
			go func() { l.err = l.cmd.Wait(); close(l.exited) }()
			code := l.wait(t, 2*time.Minute)
			stderr := l.stderr.String()
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			if !strings.Contains(stderr, "a worker process failed") || !strings.Contains(stderr, tc.shown) {
				t.Errorf("standard error does not say that a worker process failed and show %q:\n%s", tc.shown, tail(stderr))
			}
		})
	}
}
