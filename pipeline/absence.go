package pipeline

import (
	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/beametrics/beametrics/transforms/absence"
	"github.com/beametrics/beametrics/transforms/exportsink"
)

// withAbsence adds explicit zeros for expected series that received
// nothing in a window (the metric's `absent:` setting). combined is the
// PCollection<KV<string, aggregate.Acc>> of one window size; metrics are
// the indexes of the metrics in it. Without absent: metrics it is
// returned as is.
// The transform's seconds since each series last had data are exported
// as the gauge <metric>/seconds_since_last_seen (exportsink.WriteSince).
func withAbsence(s beam.Scope, plan *Plan, metrics []int, combined beam.PCollection) (beam.PCollection, error) {
	cfg := plan.Config
	var specs []absence.Spec
	for _, i := range metrics {
		if cfg.Metrics[i].Absent == nil {
			continue
		}
		sp, err := absence.SpecFor(cfg, i)
		if err != nil {
			return beam.PCollection{}, err
		}
		specs = append(specs, sp)
	}
	if len(specs) == 0 {
		return combined, nil
	}
	filled, since := absence.Apply(s, specs, cfg.Metrics[metrics[0]].Window, cfg.AllowedLateness, combined)
	exportsink.WriteSince(s, plan.Source, plan.Exporters, plan.DeadLetter, since,
		exportsink.WithWorkerSelfMetrics(plan.WorkerSelfMetrics))
	return filled, nil
}
