package pipeline

import "context"

// prepareDataflow checks the Dataflow options and adapts the plan to the
// Dataflow runner (native Pub/Sub source, worker binary) before launch.
func prepareDataflow(ctx context.Context, plan *Plan, o *Options) error {
	return usageErrorf("--runner=dataflow is not supported by this build yet")
}
