package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"

	"github.com/beametrics/beametrics/internal/testing/pubsubtest"
	"github.com/beametrics/beametrics/internal/testing/runoutput"
)

// childArgsEnv makes the test binary run beametrics itself with these
// arguments (JSON), so that a test can kill -9 a real beametrics process
// without linking a second Beam binary.
const childArgsEnv = "BEAMETRICS_TEST_CHILD_ARGS"

func TestMain(m *testing.M) {
	if a := os.Getenv(childArgsEnv); a != "" {
		var args []string
		if err := json.Unmarshal([]byte(a), &args); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		os.Exit(dispatch(args))
	}
	if filepath.Base(os.Args[0]) == "beametrics" {
		// Linked as beametrics (see docs_test.go): README's commands run
		// this binary as written.
		os.Exit(dispatch(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func TestCrashRestartLosesNothingFake(t *testing.T) {
	crashRestart(t, pubsubtest.StartFake(t))
}

func TestCrashRestartLosesNothingEmulator(t *testing.T) {
	crashRestart(t, pubsubtest.StartEmulator(t))
}

const (
	crashMessages = 5000
	crashRate     = 250 // per second: publishing lasts 20 s
	crashTopic    = "projects/crash/topics/logs"
	crashSub      = "projects/crash/subscriptions/beametrics"
)

// crashRestart publishes crashMessages messages at crashRate while
// beametrics counts them in 5 s windows, kills it with SIGKILL while it is
// exporting, starts it again with the same flags, and drains it with
// SIGTERM once everything is published. Every message carries its index
// as a label, so the exported points say exactly which were counted: none
// may be missing; those counted twice (windows being exported at the kill)
// are reported.
func crashRestart(t *testing.T, srv *pubsubtest.Server) {
	if testing.Short() {
		t.Skip("skipping: the crash test takes about a minute")
	}
	client := srv.Client(t, "crash")
	pubsubtest.CreateTopic(t, client, crashTopic)
	pubsubtest.CreateSubscription(t, client, crashSub, crashTopic, 10*time.Second)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "crash.yaml")
	if err := os.WriteFile(cfg, []byte("metrics:\n  - name: crash\n    type: count\n    dynamic_labels: {i: i}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"--config", cfg, "--subscription", crashSub, "--window-size", "5", "--export-type", "local"}

	published := make(chan error, 1)
	go func() { published <- publishPaced(client, crashMessages, crashRate) }()

	first := startChild(t, srv.Addr, args, filepath.Join(dir, "run1"))
	// Kill while windows are being exported: 1.5 s after the first one.
	if !waitForLine(filepath.Join(dir, "run1.out"), `"metric_name":"crash"`, 90*time.Second) {
		t.Fatalf("the first run exported nothing in 90 s; its stderr:\n%s", readFile(dir, "run1.err"))
	}
	time.Sleep(1500 * time.Millisecond)
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	killedAt := time.Now()

	second := startChild(t, srv.Addr, args, filepath.Join(dir, "run2"))
	if err := <-published; err != nil {
		t.Fatal(err)
	}
	// The restarted run holds its watermark for one lease period (10 s
	// here) so that what the killed run held comes back on time; give it
	// that and a few seconds more to pull the rest, then drain.
	if d := time.Until(killedAt.Add(20 * time.Second)); d > 0 {
		time.Sleep(d)
	}
	if err := second.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- second.Wait() }()
	select {
	case err := <-waited:
		if err != nil {
			t.Fatalf("the restarted run did not drain cleanly: %v; its stderr:\n%s", err, readFile(dir, "run2.err"))
		}
	case <-time.After(90 * time.Second):
		_ = second.Process.Kill()
		t.Fatalf("the restarted run did not end within 90 s of SIGTERM; its stderr:\n%s", readFile(dir, "run2.err"))
	}

	counts := make([]int, crashMessages)
	before := countIndexes(t, filepath.Join(dir, "run1.out"), counts)
	after := countIndexes(t, filepath.Join(dir, "run2.out"), counts)
	var missing []int
	twice := 0
	for i, n := range counts {
		if n == 0 {
			missing = append(missing, i)
		}
		if n > 1 {
			twice += n - 1
		}
	}
	t.Logf("counted %d before the kill and %d after the restart; %d counted twice", before, after, twice)
	if len(missing) > 0 {
		t.Errorf("%d of %d messages never counted (first: %v)", len(missing), crashMessages, missing[:min(10, len(missing))])
	}
	if left := pubsubtest.PullRemaining(t, client, crashSub, 2*time.Second); len(left) > 0 {
		t.Errorf("%d messages left unacked on the subscription after the drain", len(left))
	}
}

// publishPaced publishes n messages {"i":INDEX} at rate per second.
func publishPaced(c *pubsub.Client, n, rate int) error {
	p := c.Publisher(crashTopic)
	defer p.Stop()
	start := time.Now()
	results := make([]*pubsub.PublishResult, n)
	for i := range n {
		if d := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))); d > 0 {
			time.Sleep(d)
		}
		results[i] = p.Publish(context.Background(), &pubsub.Message{Data: []byte(fmt.Sprintf(`{"i":%d}`, i))})
	}
	for i, r := range results {
		if _, err := r.Get(context.Background()); err != nil {
			return fmt.Errorf("publishing message %d: %v", i, err)
		}
	}
	return nil
}

// startChild runs beametrics with args against the Pub/Sub server at addr,
// its stdout and stderr in out+".out" and out+".err".
func startChild(t *testing.T, addr string, args []string, out string) *exec.Cmd {
	t.Helper()
	a, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childArgsEnv+"="+string(a), "PUBSUB_EMULATOR_HOST="+addr)
	stdout, err := os.Create(out + ".out")
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := os.Create(out + ".err")
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		stdout.Close()
		stderr.Close()
	})
	return cmd
}

func waitForLine(path, substr string, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil && strings.Contains(string(b), substr) {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

func readFile(dir, name string) string {
	b, _ := os.ReadFile(filepath.Join(dir, name))
	return string(b)
}

// countIndexes adds the counts of the crash metric's points in the
// JSON-lines file at path to counts, by the message index in their label,
// and returns their sum. A torn last line (the kill) is skipped.
func countIndexes(t *testing.T, path string, counts []int) int {
	t.Helper()
	sum := 0
	for _, p := range runoutput.ReadPointsKilled(t, path) {
		if p.Metric != "crash" {
			continue
		}
		i, err := strconv.Atoi(p.Labels["i"])
		if err != nil || i < 0 || i >= len(counts) {
			t.Fatalf("%s: a point with label i=%q", path, p.Labels["i"])
		}
		n := int(p.Number(t))
		counts[i] += n
		sum += n
	}
	return sum
}

// TestMissingSubscriptionExits2: a subscription that does not exist ends
// the run at once with exit 2 and a message naming it, instead of being
// retried forever.
func TestMissingSubscriptionExits2(t *testing.T) {
	srv := pubsubtest.StartFake(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(cfg, []byte("metrics:\n  - name: n\n    type: count\n    export_type: local\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sub := "projects/p/subscriptions/no-such-subscription"
	cmd := startChild(t, srv.Addr, []string{"--config", cfg, "--subscription", sub}, filepath.Join(dir, "run"))
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatalf("still running after 60 s; stderr:\n%s", readFile(dir, "run.err"))
	}
	if code := cmd.ProcessState.ExitCode(); code != 2 {
		t.Errorf("exit %d, want 2; stderr:\n%s", code, readFile(dir, "run.err"))
	}
	if errText := readFile(dir, "run.err"); !strings.Contains(errText, sub) || !strings.Contains(errText, "does not exist") {
		t.Errorf("stderr does not name the missing subscription:\n%s", errText)
	}
}
