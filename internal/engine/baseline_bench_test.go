package engine

import (
	"regexp"
	"runtime"
	"sort"
	"testing"
	"time"

	"github.com/valyala/fastjson"
)

// BenchmarkBaselineHandWritten does the work of BenchmarkProcess in a plain
// hand-written loop over fastjson, with nothing configurable. It is the
// yardstick the issue names (about 2.3M events/s on an idle core here):
// the engine should come close to it.
func BenchmarkBaselineHandWritten(b *testing.B) {
	events := benchEvents(1 << 16)
	re := regexp.MustCompile(`^/api/v1/(orders|items)/`)
	bounds := []float64{5, 10, 25, 50, 100, 250, 500, 1000}
	var p fastjson.Parser
	var checkout, errors int64
	var bytesSum float64
	buckets := make([]int64, len(bounds)+1)
	byLabels := map[string]int64{}
	key := make([]byte, 0, 64)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	cpu0 := threadCPU()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		v, err := p.ParseBytes(events[i&(len(events)-1)])
		if err != nil {
			b.Fatal(err)
		}
		ts, _ := time.Parse(time.RFC3339Nano, string(v.GetStringBytes("time")))
		_ = ts
		svc := v.GetStringBytes("service")
		if string(svc) == "checkout" && string(v.GetStringBytes("http", "method")) == "GET" {
			checkout++
		}
		bytesSum += v.GetFloat64("http", "bytes")
		status := v.GetInt("http", "status")
		if re.Match(v.GetStringBytes("http", "path")) {
			key = append(key[:0], svc...)
			key = append(key, 0)
			key = append(key, byte(status), byte(status>>8))
			byLabels[string(key)]++
		}
		if status >= 500 && string(svc) != "healthz" {
			errors++
		}
		buckets[sort.SearchFloat64s(bounds, v.GetFloat64("http", "latency_ms"))]++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(b.N)/(threadCPU()-cpu0).Seconds(), "events/cpu-s")
}
