// Package exporters holds what every exporter shares: the Exporter
// interface, its settings and failure report. The values exported are
// package metricdata's. Each exporter lives in its own subpackage.
package exporters

import (
	"context"

	"github.com/beametrics/beametrics/internal/metricdata"
)

// Exporter writes points somewhere. Implementations batch as they see fit
// and retry transient failures themselves; an error returned from Export
// means points were lost after retries, and the caller counts and logs it.
type Exporter interface {
	// Start prepares the destination for the metrics (for example creates
	// metric descriptors). A conflict or bad setting is an error here,
	// before any data flows.
	Start(ctx context.Context, metrics []metricdata.Descriptor) error
	// Export writes points, which may belong to several metrics and windows.
	Export(ctx context.Context, points []metricdata.Point) error
	// Close flushes and releases resources.
	Close() error
}
