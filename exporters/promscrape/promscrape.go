// Package promscrape serves /metrics for Prometheus to scrape, with the
// latest window's value of every series. It suits one process (a local run,
// the embedded quick start): on Dataflow each worker would serve only its
// own share of the series, so use remote write there.
package promscrape

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/beametrics/beametrics/exporters"
	"github.com/beametrics/beametrics/internal/metricdata"
)

// Store holds the latest value of every series and is a
// prometheus.Collector. Gauges show only the series of their metric's latest
// window (a series without data in it disappears); counters keep each
// series' latest running total.
type Store struct {
	mu      sync.Mutex
	metrics map[string]*family
}

type family struct {
	d      metricdata.Descriptor
	desc   *prometheus.Desc
	labels []string // descriptor label names, as sent
	latest time.Time
	series map[string]metricdata.Point
}

// NewStore returns an empty store.
func NewStore() *Store { return &Store{metrics: map[string]*family{}} }

// Define adds or replaces metrics.
func (s *Store) Define(metrics []metricdata.Descriptor) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range metrics {
		names := make([]string, len(d.LabelNames))
		for i, l := range d.LabelNames {
			names[i] = exporters.PrometheusLabelName(l)
		}
		help := d.Description
		if help == "" {
			help = fmt.Sprintf("beametrics %s of %s per window", d.Aggregation, d.Name)
		}
		s.metrics[d.Name] = &family{d: d, desc: prometheus.NewDesc(exporters.PrometheusFamily(d), help, names, nil), labels: d.LabelNames, series: map[string]metricdata.Point{}}
	}
}

// Put records points; an older window never replaces a newer one.
func (s *Store) Put(points []metricdata.Point) []exporters.PointFailure {
	s.mu.Lock()
	defer s.mu.Unlock()
	var failed []exporters.PointFailure
	for _, p := range points {
		f := s.metrics[p.Metric]
		if f == nil {
			failed = append(failed, exporters.PointFailure{Point: p, Code: "unknown_metric", Reason: fmt.Sprintf("metric %q was not given to Start", p.Metric)})
			continue
		}
		if reason := check(p, f); reason != "" {
			failed = append(failed, exporters.PointFailure{Point: p, Code: "encode", Reason: reason})
			continue
		}
		k := key(p.Labels)
		if old, ok := f.series[k]; ok && old.End.After(p.End) {
			continue
		}
		f.series[k] = p
		if p.End.After(f.latest) {
			f.latest = p.End
			if !exporters.IsCounter(f.d) {
				for k, q := range f.series {
					if q.End.Before(f.latest) {
						delete(f.series, k)
					}
				}
			}
		}
	}
	return failed
}

func check(p metricdata.Point, f *family) string {
	if p.Type != f.d.ValueType {
		return fmt.Sprintf("point is %v, metric is %v", p.Type, f.d.ValueType)
	}
	for _, l := range p.Labels {
		if sort.SearchStrings(f.labels, l.Name) == len(f.labels) || f.labels[sort.SearchStrings(f.labels, l.Name)] != l.Name {
			return fmt.Sprintf("label %q is not declared for the metric", l.Name)
		}
	}
	if p.Type == metricdata.Distribution && (p.Dist == nil || len(p.Dist.BucketCounts) != len(p.Dist.Bounds)+1) {
		return "distribution without value or with bucket counts not matching its bounds"
	}
	return ""
}

func key(ls []metricdata.Label) string {
	var b strings.Builder
	for _, l := range ls {
		b.WriteString(l.Name)
		b.WriteByte(0)
		b.WriteString(l.Value)
		b.WriteByte(0)
	}
	return b.String()
}

// Describe sends nothing: the store is an unchecked collector, as its
// metrics are only known at Start.
func (s *Store) Describe(chan<- *prometheus.Desc) {}

// Collect sends the const metrics of the latest values.
func (s *Store) Collect(ch chan<- prometheus.Metric) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.metrics {
		for _, p := range f.series {
			values := make([]string, len(f.labels))
			for _, l := range p.Labels {
				values[sort.SearchStrings(f.labels, l.Name)] = l.Value
			}
			var m prometheus.Metric
			var err error
			vt := prometheus.GaugeValue
			if exporters.IsCounter(f.d) {
				vt = prometheus.CounterValue
			}
			switch p.Type {
			case metricdata.Int64:
				m, err = prometheus.NewConstMetric(f.desc, vt, float64(p.Int), values...)
			case metricdata.Double:
				m, err = prometheus.NewConstMetric(f.desc, vt, p.Double, values...)
			case metricdata.Distribution:
				buckets := make(map[float64]uint64, len(p.Dist.Bounds))
				var cum int64
				for i, b := range p.Dist.Bounds {
					cum += p.Dist.BucketCounts[i]
					buckets[b] = uint64(cum)
				}
				m, err = prometheus.NewConstHistogram(f.desc, uint64(p.Dist.Count), p.Dist.Sum, buckets, values...)
			}
			if err != nil {
				m = prometheus.NewInvalidMetric(f.desc, err)
			}
			ch <- m
		}
	}
}

// Exporter feeds a Store; it implements exporters.Exporter.
type Exporter struct {
	store *Store
}

// NewExporter returns an exporter writing into store.
func NewExporter(store *Store) *Exporter { return &Exporter{store: store} }

// Start defines the metrics.
func (e *Exporter) Start(_ context.Context, metrics []metricdata.Descriptor) error {
	e.store.Define(metrics)
	return nil
}

// Export keeps the points as the latest values.
func (e *Exporter) Export(_ context.Context, points []metricdata.Point) error {
	failed := e.store.Put(points)
	if len(failed) == 0 {
		return nil
	}
	return &exporters.ExportError{Exporter: ExporterName, Total: len(points), Failed: failed}
}

// ExporterName names the scrape endpoint in failure counts.
const ExporterName = "prometheus-scrape"

// Close does nothing: the server outlives the exporters feeding it.
func (e *Exporter) Close() error { return nil }

// Server serves a Store on /metrics.
type Server struct {
	Store *Store
	lis   net.Listener
	http  *http.Server
}

// Listen starts serving a new store on addr (":9464", "127.0.0.1:0").
func Listen(addr string) (*Server, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("prometheus listen %s: %w", addr, err)
	}
	store := NewStore()
	reg := prometheus.NewRegistry()
	reg.MustRegister(store)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	s := &Server{Store: store, lis: lis, http: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}
	go s.http.Serve(lis)
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.lis.Addr().String() }

var (
	sharedMu sync.Mutex
	shared   = map[string]*Server{}
)

// Shared returns the process-wide server for addr, starting it on first
// use, so that every sink DoFn instance of a process feeds one endpoint.
func Shared(addr string) (*Server, error) {
	if addr == "" {
		return nil, errors.New("prometheus listen address is empty")
	}
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if s := shared[addr]; s != nil {
		return s, nil
	}
	s, err := Listen(addr)
	if err != nil {
		return nil, err
	}
	// Once per process: with port 0 this is the only way to learn the port.
	slog.Info("prometheus scrape endpoint serving", "url", "http://"+s.Addr()+"/metrics")
	shared[addr] = s
	return s, nil
}
