// Package promtest runs a real Prometheus server for tests: Debian's
// /usr/bin/prometheus on a free loopback port, with the remote-write
// receiver on, a temporary TSDB and an empty configuration.
package promtest

import (
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// DefaultBinary is where Debian's prometheus package installs the server;
// the environment variable PROMTEST_PROMETHEUS names another.
const DefaultBinary = "/usr/bin/prometheus"

func binary() string {
	if b := os.Getenv("PROMTEST_PROMETHEUS"); b != "" {
		return b
	}
	return DefaultBinary
}

// Server is a running Prometheus.
type Server struct {
	// URL is the base URL, e.g. http://127.0.0.1:41234.
	URL string
	log *os.File
}

// WriteURL is the remote-write endpoint.
func (s *Server) WriteURL() string { return s.URL + "/api/v1/write" }

// Start runs Prometheus for the duration of the test and waits until it is
// ready. It skips the test when the binary is missing.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := binary()
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("needs a real Prometheus at %s (apt-get install -y prometheus): %v", bin, err)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	logf, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin,
		"--web.enable-remote-write-receiver",
		"--web.listen-address="+addr,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--config.file="+cfg,
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	s := &Server{URL: "http://" + addr, log: logf}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		logf.Close()
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready after 30s: %v\n%s", err, s.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Log returns what Prometheus printed so far, for failure messages.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.log.Name())
	return string(b)
}

func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Sample is one element of an instant-query result.
type Sample struct {
	Labels map[string]string
	Time   time.Time
	Value  float64
}

// Query runs an instant query at time at and returns the vector result.
func (s *Server) Query(expr string, at time.Time) ([]Sample, error) {
	var result []struct {
		Metric map[string]string `json:"metric"`
		Value  [2]any            `json:"value"`
	}
	if err := s.instant(expr, at, "vector", &result); err != nil {
		return nil, err
	}
	out := make([]Sample, 0, len(result))
	for _, r := range result {
		smp, err := parsePair(r.Value)
		if err != nil {
			return nil, fmt.Errorf("query %q: %w", expr, err)
		}
		smp.Labels = r.Metric
		out = append(out, smp)
	}
	return out, nil
}

// Series is one series of raw samples.
type Series struct {
	Labels  map[string]string // with __name__
	Samples []Sample          // Labels of each sample are nil
}

// Raw returns the raw samples stored in (to-span, to] for the series that
// selector picks, with their exact timestamps: an instant query of a range
// selector, so no lookback or interpolation hides a misplaced sample.
func (s *Server) Raw(selector string, to time.Time, span time.Duration) ([]Series, error) {
	expr := fmt.Sprintf("%s[%dms]", selector, span.Milliseconds())
	var result []struct {
		Metric map[string]string `json:"metric"`
		Values [][2]any          `json:"values"`
	}
	if err := s.instant(expr, to, "matrix", &result); err != nil {
		return nil, err
	}
	var out []Series
	for _, r := range result {
		ser := Series{Labels: r.Metric}
		for _, v := range r.Values {
			smp, err := parsePair(v)
			if err != nil {
				return nil, fmt.Errorf("query %q: %w", expr, err)
			}
			ser.Samples = append(ser.Samples, smp)
		}
		out = append(out, ser)
	}
	return out, nil
}

// instant runs expr as an instant query at time at and decodes its result,
// which must be of resultType, into result.
func (s *Server) instant(expr string, at time.Time, resultType string, result any) error {
	q := url.Values{"query": {expr}, "time": {strconv.FormatFloat(float64(at.UnixMilli())/1000, 'f', 3, 64)}}
	resp, err := http.Get(s.URL + "/api/v1/query?" + q.Encode())
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return fmt.Errorf("query %q: %w", expr, err)
	}
	if body.Status != "success" {
		return fmt.Errorf("query %q: %s", expr, body.Error)
	}
	if body.Data.ResultType != resultType {
		return fmt.Errorf("query %q: result type %s, want %s", expr, body.Data.ResultType, resultType)
	}
	if err := json.Unmarshal(body.Data.Result, result); err != nil {
		return fmt.Errorf("query %q: %w", expr, err)
	}
	return nil
}

func parsePair(v [2]any) (Sample, error) {
	ts, ok := v[0].(float64)
	vs, ok2 := v[1].(string)
	if !ok || !ok2 {
		return Sample{}, fmt.Errorf("odd sample %v", v)
	}
	f, err := strconv.ParseFloat(vs, 64)
	if err != nil {
		return Sample{}, fmt.Errorf("value %q: %w", vs, err)
	}
	return Sample{Time: time.UnixMilli(int64(math.Round(ts * 1000))), Value: f}, nil
}

// Key formats labels as name{k="v",...} with sorted keys, for comparisons.
func Key(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		if k != "__name__" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(m["__name__"])
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", k, m[k])
	}
	b.WriteByte('}')
	return b.String()
}
