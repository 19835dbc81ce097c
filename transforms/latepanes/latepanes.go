// Package latepanes keeps late data from producing confusing exports. With
// allowed lateness, Beam fires a window again when late data arrives (and
// prism once more when the window expires); with accumulating panes each
// firing carries the window's whole total. This transform passes a pane
// only when its total differs from the last one passed for the same series
// and window, so exporters see one point per window unless late data
// really changed it, and then the corrected total.
package latepanes

import (
	"bytes"
	"context"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/state"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/beametrics/beametrics/internal/aggregate"
)

func init() {
	register.DoFn5x1[context.Context, state.Provider, string, aggregate.Acc, func(string, aggregate.Acc), error](&changedFn{})
	register.Emitter2[string, aggregate.Acc]()
}

// Changed returns the panes of combined (KV<string, aggregate.Acc>) whose
// value changed since the previous pane of the same key and window.
func Changed(s beam.Scope, combined beam.PCollection) beam.PCollection {
	return beam.ParDo(s.Scope("latepanes.Changed"), &changedFn{Last: state.MakeValueState[[]byte]("last")}, combined)
}

// changedFn's state is scoped to a key and a window by Beam, and dropped
// when the window expires.
type changedFn struct {
	Last state.Value[[]byte]
}

func (fn *changedFn) ProcessElement(_ context.Context, sp state.Provider, key string, acc aggregate.Acc, emit func(string, aggregate.Acc)) error {
	enc, err := acc.AppendBinary(nil)
	if err != nil {
		return err
	}
	last, ok, err := fn.Last.Read(sp)
	if err != nil {
		return err
	}
	if ok && bytes.Equal(last, enc) {
		return nil
	}
	if err := fn.Last.Write(sp, enc); err != nil {
		return err
	}
	emit(key, acc)
	return nil
}
