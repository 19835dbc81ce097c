package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/beametrics/beametrics/internal/testing/bifake"
	"github.com/beametrics/beametrics/internal/testing/childtest"
	"github.com/beametrics/beametrics/internal/testing/textcheck"
)

// sigpipeChildEnv holds the fake's URL and the backup directory of the
// child run, separated by a space.
const sigpipeChildEnv = "BEAMETRICS_BI_SIGPIPE_CHILD"

// TestClosedStdoutStopsWritesAndSaysHowToUndo: `beametrics bi ... --apply
// | head`. The run must not die of SIGPIPE (exit 141, no summary, no
// restore command) but stop starting writes, finish those in flight, and
// print on standard error that the output was closed, the summary and, when
// something was written, the restore command.
func TestClosedStdoutStopsWritesAndSaysHowToUndo(t *testing.T) {
	if v := os.Getenv(sigpipeChildEnv); v != "" {
		url, dir, _ := strings.Cut(v, " ")
		env := map[string]string{"BEAMETRICS_BI_PROVIDER": "redash", "BEAMETRICS_BI_URL": url, "BEAMETRICS_BI_API_KEY": testKey, "HOME": "/nonexistent-home"}
		os.Exit(Main(context.Background(), []string{"query", "update", "--apply", "--yes", "--backup-dir", dir,
			"--query-regexp", "events", "--query-replace", "events_v1", "events_v2"},
			Env{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: func(k string) string { return env[k] }}))
	}
	t.Run("while writing", func(t *testing.T) {
		// The backup line comes just before the first write.
		errText, writes, backups := closeStdoutAfter(t, 200, func(line string) bool { return strings.HasPrefix(line, "backup: ") })
		if writes == 0 || writes >= 200 {
			t.Errorf("%d writes sent, want some but not all 200: the run should stop once its output is gone", writes)
		}
		if !strings.Contains(errText, "to undo this whole run: beametrics bi restore ") || len(backups) != 1 {
			t.Errorf("%d backups, and standard error lacks the restore command:\n%s", len(backups), errText)
		}
	})
	t.Run("while showing the diffs", func(t *testing.T) {
		// 600 diffs of about 300 bytes are more than a pipe holds (64 KiB),
		// so the reader leaves before the last diff is written.
		errText, writes, backups := closeStdoutAfter(t, 600, func(string) bool { return true })
		if writes != 0 || len(backups) != 0 {
			t.Errorf("%d writes and %d backups after the output closed before the writes began", writes, len(backups))
		}
		if strings.Contains(errText, "restore") {
			t.Errorf("a restore command for a run that wrote nothing:\n%s", errText)
		}
	})
}

// closeStdoutAfter runs the child against a fake holding n queries, closes
// its standard output after the first line for which leave is true, and
// returns the child's standard error, the writes the fake received and the
// backup directories created.
func closeStdoutAfter(t *testing.T, n int, leave func(line string) bool) (string, int64, []os.DirEntry) {
	srv, _ := seeded(t, bifake.NewRedash(testKey), n, 0)
	// Slow writes: 200 at 8 at a time take about 25 × 20 ms, so the run is
	// still writing when the reader goes away.
	srv.SetFault(func(method, path string, id int) *bifake.Fault {
		if method != "GET" {
			return &bifake.Fault{Delay: 20 * time.Millisecond}
		}
		return nil
	})
	dir := t.TempDir()
	cmd := childtest.Command("TestClosedStdoutStopsWritesAndSaysHowToUndo", sigpipeChildEnv+"="+srv.URL()+" "+dir)
	r, stderr := childtest.StartPiped(t, cmd)
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("the child's output ended (%v) before the line to leave at", err)
		}
		if leave(line) {
			break
		}
	}
	r.Close() // as head does
	err := cmd.Wait()
	errText := stderr.String()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != ExitSomeFailed {
		t.Fatalf("child ended with %v, want exit status %d (killed by SIGPIPE?)\n%s", err, ExitSomeFailed, errText)
	}
	if strings.Contains(errText, testKey) {
		t.Error("the API key is on standard error")
	}
	_, writes := srv.Requests()
	changed := 0
	for id := 1; id <= n; id++ {
		if q, _ := srv.Query(id); strings.Contains(q.SQL, "events_v2") {
			changed++
		}
	}
	m := regexp.MustCompile(`summary: (\d+) changed, 0 failed, (\d+) not attempted`).FindStringSubmatch(errText)
	if m == nil {
		t.Fatalf("no summary on standard error:\n%s", errText)
	}
	if m[1] != strconv.Itoa(changed) || m[2] != strconv.Itoa(n-changed) {
		t.Errorf("summary %q, but the server has %d of %d changed", m[0], changed, n)
	}
	textcheck.Contains(t, "standard error", errText,
		"stopped: standard output was closed by its reader; writes in flight were finished and recorded",
		"the run stopped: standard output was closed by its reader",
		"\nbeametrics bi: standard output was closed by its reader\n",
	)
	backups, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return errText, writes, backups
}

// brokenPipe takes n bytes, then fails every write as a pipe whose reader
// has gone does (SIGPIPE ignored).
type brokenPipe struct{ n int }

func (b *brokenPipe) Write(p []byte) (int, error) {
	if len(p) > b.n {
		k := b.n
		b.n = 0
		return k, &os.PathError{Op: "write", Path: "/dev/stdout", Err: syscall.EPIPE}
	}
	b.n -= len(p)
	return len(p), nil
}

// TestClosedStdoutEndsListAndDryRun: `bi query list | head` and a dry run
// piped into head stop printing, say why on standard error, and keep their
// exit status: nothing was lost but output nobody reads.
func TestClosedStdoutEndsListAndDryRun(t *testing.T) {
	srv, _ := seeded(t, bifake.NewRedash(testKey), 300, 0)
	env := map[string]string{"BEAMETRICS_BI_PROVIDER": "redash", "BEAMETRICS_BI_URL": srv.URL(), "BEAMETRICS_BI_API_KEY": testKey, "HOME": "/nonexistent-home"}
	for _, args := range [][]string{
		{"query", "list", "--query-regexp", "events", "--format", "table"},
		{"query", "update", "--query-regexp", "events", "--query-replace", "events_v1", "events_v2"},
	} {
		var stderr bytes.Buffer
		code := Main(context.Background(), args, Env{Stdout: &brokenPipe{n: 100}, Stderr: &stderr, Getenv: func(k string) string { return env[k] }})
		if code != ExitOK || stderr.String() != "beametrics bi: standard output was closed by its reader\n" {
			t.Errorf("%s: exit %d, stderr %q; want 0 and the closed output named", args[1], code, stderr.String())
		}
	}
	if _, writes := srv.Requests(); writes != 0 {
		t.Errorf("%d writes", writes)
	}
}
