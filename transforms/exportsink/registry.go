package exportsink

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/beametrics/beametrics/exporters"
)

// Registry holds started exporters per export type for one process: prism
// runs many instances of a sink DoFn in one process, and they should share
// one connection pool (and one stdout) rather than open their own. Each
// sink with its own set of metrics keeps its own Registry.
type Registry struct {
	mu sync.Mutex
	m  map[string]exporters.Exporter
}

// Get returns the exporter of exportType, making it with NewExporter and
// starting it with descs on first use.
func (r *Registry) Get(ctx context.Context, exportType string, s exporters.Settings, descs []exporters.Descriptor) (exporters.Exporter, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.m[exportType]; ok {
		return e, nil
	}
	e, err := NewExporter(ctx, exportType, s)
	if err != nil {
		return nil, fmt.Errorf("exporter %s: %v", exportType, err)
	}
	if err := e.Start(ctx, descs); err != nil {
		return nil, fmt.Errorf("exporter %s: %v", exportType, err)
	}
	if r.m == nil {
		r.m = map[string]exporters.Exporter{}
	}
	r.m[exportType] = e
	return e, nil
}

// CloseAll flushes and closes the exporters and forgets them.
func (r *Registry) CloseAll() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for typ, e := range r.m {
		if err := e.Close(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %v", typ, err))
		}
		delete(r.m, typ)
	}
	return errors.Join(errs...)
}
