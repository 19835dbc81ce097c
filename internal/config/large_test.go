package config_test

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/beametrics/beametrics/internal/config"
)

// largeConfig is a config of about size bytes: one metric whose not_in
// list holds user ids, the shape of the 50 MB config of issue 14.
func largeConfig(size int) []byte {
	var b strings.Builder
	b.WriteString("metrics:\n  - name: not-blocked\n    type: count\n    filter-conditions:\n      - field: user\n        operator: not_in\n        value:\n")
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, "          - user-%012d-blocked\n", i)
	}
	return []byte(b.String())
}

// BenchmarkParseLargeConfig reads a 50 MB config: validation's cost, and
// the start-up cost of every process of a pipeline that reads it.
func BenchmarkParseLargeConfig(b *testing.B) {
	data := largeConfig(50 << 20)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := config.Parse("large.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MiB")
}
