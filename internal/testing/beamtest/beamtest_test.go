package beamtest

import (
	"fmt"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/beametrics/beametrics/transforms/pubsubread"
)

func TestMain(m *testing.M) { ptest.Main(m) }

func init() {
	register.Function2x1(describe)
	register.Function2x1(stamp)
}

// stamp writes an element as "time element".
func stamp(t beam.EventTime, e string) string {
	return t.ToTime().UTC().Format("15:04:05") + " " + e
}

// The stream's elements arrive stamped with their times, a late one too.
func TestStream(t *testing.T) {
	t0 := time.Date(2025, 11, 24, 16, 0, 0, 0, time.UTC)
	st := NewStream(t)
	st.Add(t0, "a", "b")
	st.Advance(t0.Add(time.Minute))
	st.Add(t0.Add(time.Second), "late")
	Run(t, func(s beam.Scope) error {
		passert.Equals(s, beam.ParDo(s, stamp, st.Create(s)), "16:00:00 a", "16:00:00 b", "16:00:01 late")
		return nil
	})
}

// describe writes a message as "element-time publish-time id data env".
func describe(t beam.EventTime, m pubsubread.Message) string {
	return fmt.Sprintf("%s %s %s %s %s", t.ToTime().UTC().Format("15:04:05"), m.PublishTime.UTC().Format("15:04:05"),
		m.ID, m.Data, m.Attributes["env"])
}

// The stream's records arrive as the messages the pipeline reads:
// published, and stamped, at their time, with their attributes.
func TestRecordsSource(t *testing.T) {
	t0 := time.Date(2025, 11, 24, 16, 0, 0, 0, time.UTC)
	r := NewRecords(t)
	r.Add(t0, "a", "b")
	r.Advance(t0.Add(10 * time.Second))
	r.AddWithAttributes(t0.Add(12*time.Second), map[string]string{"env": "prod"}, "c")
	source := r.Source()
	Run(t, func(s beam.Scope) error {
		got := beam.ParDo(s, describe, source(s))
		passert.Equals(s, got, "16:00:00 16:00:00 a a ", "16:00:00 16:00:00 b b ", "16:00:12 16:00:12 c c prod")
		return nil
	})
}
