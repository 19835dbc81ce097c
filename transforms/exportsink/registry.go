package exportsink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/beametrics/beametrics/exporters"
	"github.com/beametrics/beametrics/internal/metricdata"
)

// Registry holds started exporters per export type and settings for one
// process: prism runs many instances of a sink DoFn in one process, and
// they should share one connection pool (and one stdout) rather than open
// their own. Keying by settings too means that a run never writes through
// an exporter another run (or test) in the process set up elsewhere.
type Registry struct {
	mu sync.Mutex
	m  map[string]exporters.Exporter
}

// Get returns the exporter of exportType, making it with NewExporter and
// starting it with descs on first use.
func (r *Registry) Get(ctx context.Context, exportType string, s exporters.Settings, descs []metricdata.Descriptor) (exporters.Exporter, error) {
	settings, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("exporter %s: %w", exportType, err)
	}
	key := exportType + "\x00" + string(settings)
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.m[key]; ok {
		return e, nil
	}
	e, err := NewExporter(ctx, exportType, s)
	if err != nil {
		return nil, fmt.Errorf("exporter %s: %w", exportType, err)
	}
	if err := e.Start(ctx, descs); err != nil {
		return nil, fmt.Errorf("exporter %s: %w", exportType, err)
	}
	if r.m == nil {
		r.m = map[string]exporters.Exporter{}
	}
	r.m[key] = e
	return e, nil
}

// CloseAll flushes and closes the exporters and forgets them.
func (r *Registry) CloseAll() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for key, e := range r.m {
		if err := e.Close(); err != nil {
			typ, _, _ := strings.Cut(key, "\x00")
			errs = append(errs, fmt.Errorf("%s: %w", typ, err))
		}
		delete(r.m, key)
	}
	return errors.Join(errs...)
}
