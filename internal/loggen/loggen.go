// Package loggen generates realistic web-application access logs as JSON,
// for the embedded quick start, benchmarks and tests. Output is
// deterministic for a seed, so tests can compute the expected metrics.
package loggen

import (
	"math/rand/v2"
	"strconv"
	"time"
)

var (
	services = []string{"checkout", "catalog", "search", "auth", "healthz"}
	methods  = []string{"GET", "GET", "GET", "POST", "PUT", "DELETE"}
	paths    = []string{"/api/v1/orders/", "/api/v1/items/", "/api/v1/search?q=", "/login", "/static/app.js?v="}
	regions  = []string{"asia-northeast1", "us-central1", "europe-west1"}
	levels   = []string{"INFO", "INFO", "INFO", "INFO", "WARNING", "ERROR"}
)

// Generator makes log lines. It is not safe for concurrent use.
type Generator struct {
	rng *rand.Rand
	// Start is the time of the first event; Step is the time between
	// events.
	Start time.Time
	Step  time.Duration
	n     int64
}

// New makes a generator whose events start at start and advance by step.
func New(seed uint64, start time.Time, step time.Duration) *Generator {
	return &Generator{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), Start: start, Step: step}
}

// Append appends one JSON log line (without a newline) and returns it with
// the event's time.
func (g *Generator) Append(dst []byte) ([]byte, time.Time) {
	t := g.Start.Add(time.Duration(g.n) * g.Step)
	g.n++
	return g.AppendAt(dst, t), t
}

// AppendAt appends one JSON log line stamped with t, for live generators
// that follow the clock.
func (g *Generator) AppendAt(dst []byte, t time.Time) []byte {
	r := g.rng
	status := 200
	switch x := r.IntN(100); {
	case x < 3:
		status = 500 + r.IntN(4)
	case x < 10:
		status = 404
	case x < 15:
		status = 302
	}
	dst = append(dst, `{"time":"`...)
	dst = t.UTC().AppendFormat(dst, "2006-01-02T15:04:05.000Z")
	dst = append(dst, `","service":"`...)
	dst = append(dst, services[r.IntN(len(services))]...)
	dst = append(dst, `","level":"`...)
	dst = append(dst, levels[r.IntN(len(levels))]...)
	dst = append(dst, `","user":"u-`...)
	dst = strconv.AppendInt(dst, int64(10000+r.IntN(90000)), 10)
	dst = append(dst, `","http":{"method":"`...)
	dst = append(dst, methods[r.IntN(len(methods))]...)
	dst = append(dst, `","path":"`...)
	dst = append(dst, paths[r.IntN(len(paths))]...)
	dst = strconv.AppendInt(dst, int64(r.IntN(100000)), 10)
	dst = append(dst, `","status":`...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, `,"bytes":`...)
	dst = strconv.AppendInt(dst, int64(200+r.IntN(20000)), 10)
	dst = append(dst, `,"latency_ms":`...)
	dst = strconv.AppendFloat(dst, float64(r.IntN(500000))/1000, 'f', -1, 64)
	dst = append(dst, `},"region":"`...)
	dst = append(dst, regions[r.IntN(len(regions))]...)
	dst = append(dst, `","trace":"`...)
	dst = strconv.AppendUint(dst, r.Uint64()>>16|1<<47, 16)
	return append(dst, `"}`...)
}
