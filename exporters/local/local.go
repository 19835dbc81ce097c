// Package local writes points as JSON lines, one object per point, for local
// runs and tests:
//
//	{"metric_name":"NAME","labels":{"k":"v"},"value":12,"window_start":"2025-11-24T16:00:00Z","window_end":"2025-11-24T16:01:00Z","timestamp":"2025-11-24T16:01:00Z"}
package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/beametrics/beametrics/exporters"
	"github.com/beametrics/beametrics/internal/metricdata"
)

// Exporter writes JSON lines to an io.Writer. Each Export call writes all its
// lines with one Write under a lock, so lines of concurrent calls never
// interleave.
type Exporter struct {
	mu *sync.Mutex // shared by every exporter of one destination
	w  io.Writer
}

var (
	sharedMu sync.Mutex
	stdoutMu sync.Mutex
	files    = map[string]*sharedFile{}
)

type sharedFile struct {
	f  *os.File
	mu sync.Mutex
}

// stdout is standard output as the process started with it: a Beam worker
// process points os.Stdout at standard error, so that the SDK's own
// messages do not mix with the points (cmd/beametrics).
var stdout = os.Stdout

// Stdout returns an exporter to standard output. All of a process's Stdout
// exporters share one lock, so sink instances never interleave lines.
//
// It makes the process ignore SIGPIPE: by default Go kills a program whose
// reader of standard output went away (`beametrics ... | head`) with exit
// 141 and no summary. Ignored, the write fails with EPIPE instead, the
// points are counted as lost (code output_closed) and OutputClosed tells
// the run to stop.
func Stdout() *Exporter {
	ignoreSIGPIPE.Do(func() { signal.Ignore(syscall.SIGPIPE) })
	return &Exporter{w: stdout, mu: &stdoutMu}
}

var ignoreSIGPIPE sync.Once

// CodeOutputClosed is the failure code of points not written because the
// reader of the output (a pipe) went away.
const CodeOutputClosed = "output_closed"

var (
	closedOnce sync.Once
	closed     = make(chan struct{})
	closedLost atomic.Int64
)

// OutputClosed is closed when a local exporter first found its output
// closed by the reader (EPIPE): nothing more can be written there.
func OutputClosed() <-chan struct{} { return closed }

// LostToClosedOutput is the number of points not written since then.
func LostToClosedOutput() int64 { return closedLost.Load() }

// Open returns an exporter appending to the file at path, created if
// missing. All of a process's exporters of one path share the open file and
// its lock; the file stays open for the life of the process.
func Open(path string) (*Exporter, error) {
	if path == "" || path == "-" {
		return Stdout(), nil
	}
	sharedMu.Lock()
	defer sharedMu.Unlock()
	sf := files[path]
	if sf == nil {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("local exporter: %w", err)
		}
		sf = &sharedFile{f: f}
		files[path] = sf
	}
	return &Exporter{w: sf.f, mu: &sf.mu}, nil
}

// Start has nothing to prepare.
func (e *Exporter) Start(context.Context, []metricdata.Descriptor) error { return nil }

// Export writes one line per point.
func (e *Exporter) Export(_ context.Context, points []metricdata.Point) error {
	buf := make([]byte, 0, 192*len(points))
	var failed []exporters.PointFailure
	for _, p := range points {
		var err error
		if buf, err = AppendLine(buf, p); err != nil {
			failed = append(failed, exporters.PointFailure{Point: p, Code: "encode", Reason: err.Error()})
		}
	}
	e.mu.Lock()
	_, werr := e.w.Write(buf)
	e.mu.Unlock()
	code, reason := "write", ""
	if werr != nil {
		reason = werr.Error()
		if errors.Is(werr, syscall.EPIPE) {
			code, reason = CodeOutputClosed, "the output was closed by its reader"
		}
		failed = failed[:0]
		for _, p := range points {
			failed = append(failed, exporters.PointFailure{Point: p, Code: code, Reason: reason})
		}
	}
	if len(failed) == 0 {
		return nil
	}
	err := &exporters.ExportError{Exporter: exporters.TypeLocal, Total: len(points), Failed: failed}
	if code == CodeOutputClosed {
		closedLost.Add(int64(len(points)))
		closedOnce.Do(func() { close(closed) })
		return err
	}
	return err
}

// Close flushes a file to disk; standard output and shared files stay open.
func (e *Exporter) Close() error {
	if f, ok := e.w.(*os.File); ok && f != stdout {
		e.mu.Lock()
		defer e.mu.Unlock()
		return f.Sync()
	}
	return nil
}

// AppendLine appends p's JSON line (with the trailing newline) to buf. On
// error buf is returned unchanged. Labels appear sorted by name, Int64
// values as integers, non-finite doubles as the strings "NaN", "+Inf" and
// "-Inf" (JSON has no such numbers).
func AppendLine(buf []byte, p metricdata.Point) ([]byte, error) {
	start := len(buf)
	buf = append(buf, `{"metric_name":`...)
	buf = appendString(buf, p.Metric)
	buf = append(buf, `,"labels":{`...)
	for i, l := range p.Labels {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendString(buf, l.Name)
		buf = append(buf, ':')
		buf = appendString(buf, l.Value)
	}
	buf = append(buf, `},"value":`...)
	switch p.Type {
	case metricdata.Int64:
		buf = strconv.AppendInt(buf, p.Int, 10)
	case metricdata.Double:
		buf = appendFloat(buf, p.Double)
	case metricdata.Distribution:
		d := p.Dist
		if d == nil {
			return buf[:start], fmt.Errorf("distribution point without value")
		}
		if len(d.BucketCounts) != len(d.Bounds)+1 {
			return buf[:start], fmt.Errorf("distribution has %d bucket counts for %d bounds, want %d", len(d.BucketCounts), len(d.Bounds), len(d.Bounds)+1)
		}
		buf = append(buf, `{"count":`...)
		buf = strconv.AppendInt(buf, d.Count, 10)
		buf = append(buf, `,"sum":`...)
		buf = appendFloat(buf, d.Sum)
		buf = append(buf, `,"min":`...)
		buf = appendFloat(buf, d.Min)
		buf = append(buf, `,"max":`...)
		buf = appendFloat(buf, d.Max)
		buf = append(buf, `,"buckets":[`...)
		for i, c := range d.BucketCounts {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = append(buf, `{"le":`...)
			if i < len(d.Bounds) {
				buf = appendFloat(buf, d.Bounds[i])
			} else {
				buf = append(buf, `"+Inf"`...)
			}
			buf = append(buf, `,"count":`...)
			buf = strconv.AppendInt(buf, c, 10)
			buf = append(buf, '}')
		}
		buf = append(buf, "]}"...)
	default:
		return buf[:start], fmt.Errorf("point of unknown value type %d", p.Type)
	}
	buf = append(buf, `,"window_start":`...)
	buf = appendTime(buf, p.Start)
	buf = append(buf, `,"window_end":`...)
	buf = appendTime(buf, p.End)
	buf = append(buf, `,"timestamp":`...)
	buf = appendTime(buf, p.End)
	buf = append(buf, "}\n"...)
	return buf, nil
}

func appendTime(buf []byte, t time.Time) []byte {
	buf = append(buf, '"')
	buf = t.UTC().AppendFormat(buf, time.RFC3339Nano)
	return append(buf, '"')
}

// appendFloat formats like encoding/json: shortest representation, exponent
// only for very small or large magnitudes.
func appendFloat(buf []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(buf, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(buf, `"+Inf"`...)
	case math.IsInf(f, -1):
		return append(buf, `"-Inf"`...)
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	buf = strconv.AppendFloat(buf, f, format, -1, 64)
	if format == 'e' {
		// 1e-07 -> 1e-7, as encoding/json writes it.
		if n := len(buf); n >= 4 && buf[n-4] == 'e' && buf[n-3] == '-' && buf[n-2] == '0' {
			buf[n-2] = buf[n-1]
			buf = buf[:n-1]
		}
	}
	return buf
}

func appendString(buf []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s) // rare path: escaping and UTF-8 checks
			return append(buf, b...)
		}
	}
	buf = append(buf, '"')
	buf = append(buf, s...)
	return append(buf, '"')
}
