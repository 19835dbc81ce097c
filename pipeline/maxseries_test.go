package pipeline_test

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/beametrics/beametrics/internal/config"
	"github.com/beametrics/beametrics/internal/selfmetrics"
	"github.com/beametrics/beametrics/internal/testing/beamtest"
	"github.com/beametrics/beametrics/internal/testing/pubsubtest"
	"github.com/beametrics/beametrics/pipeline"
	"github.com/beametrics/beametrics/transforms/pubsubread"
)

// maxSeriesConfig caps "by-user" at 5 label sets per window; "all" counts
// every event, to check that nothing is lost on the way.
const maxSeriesConfig = `
event_time_field: time
window: 10s
metrics:
  - {name: by-user, type: count, dynamic_labels: {user: user}, max_series: 5, export_type: local}
  - {name: all, type: count, export_type: local}
`

// TestMaxSeriesAcrossPullers streams 40 users' events, all in one window,
// through the real Pub/Sub source with 4 pullers: the window must hold 5
// user series, and every other event must be in the overflow series and
// counted as overflowed, once (by a parse instance or by the seriescap
// step). On prism the pullers mostly share one parse instance; the test
// with two instances for certain is TestMaxSeriesOverTwoParseInstances.
func TestMaxSeriesAcrossPullers(t *testing.T) {
	const (
		users, maxSeries = 40, 5
		n                = 2000
	)
	srv := pubsubtest.StartFake(t)
	c := srv.Client(t, e2eProject)
	pubsubtest.CreateTopic(t, c, e2eTopic)
	pubsubtest.CreateSubscription(t, c, e2eSub, e2eTopic, time.Minute)
	// One window two minutes ahead: not late for the source's watermark
	// however slow the machine; it fires when the source stops.
	start := time.Now().UTC().Truncate(10 * time.Second).Add(2 * time.Minute)
	rng := rand.New(rand.NewPCG(14, 4))
	perUser := map[string]int{}
	var msgs []*pubsub.Message
	for i := range n {
		user := "u" + strconv.Itoa(i%users)
		perUser[user]++
		at := start.Add(time.Duration(rng.IntN(10_000)) * time.Millisecond)
		msgs = append(msgs, &pubsub.Message{Data: []byte(fmt.Sprintf(`{"time":%q,"user":%q}`, at.Format(time.RFC3339Nano), user))})
	}
	rng.Shuffle(len(msgs), func(i, j int) { msgs[i], msgs[j] = msgs[j], msgs[i] })
	pubsubtest.Publish(t, c, e2eTopic, msgs)

	rec := installRecorder(t)
	src := config.Source{Name: "maxseries.yaml", Text: []byte(maxSeriesConfig)}
	cfg, err := src.Load()
	if err != nil {
		t.Fatal(err)
	}
	pc := pubsubread.NewConfig(e2eSub)
	pc.Endpoint, pc.Insecure = srv.Addr, true
	pc.PollInterval = 20 * time.Millisecond
	pc.MaxMessages = 25 // many small bundles, spread over the pullers
	pc.Pullers = 4
	pc.StopAfter = n
	p, s := beam.NewPipelineWithRoot()
	if err := pipeline.Build(s, &pipeline.Plan{Source: src, Config: cfg, PubSub: &pc}); err != nil {
		t.Fatal(err)
	}
	before := selfmetrics.OverflowedByMetric.Snapshot()["by-user"]
	res, err := ptest.RunWithMetrics(p)
	if err != nil {
		t.Fatalf("pipeline failed: %v", err)
	}

	var series []string
	admitted, overflow, all := 0, 0, 0
	for _, line := range rec.lines(t) {
		id, v, _ := strings.Cut(line, " = ")
		count, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("point %q: %v", line, err)
		}
		switch {
		case strings.HasPrefix(id, "all{"):
			all += count
		case strings.HasPrefix(id, "by-user{user=__overflow__}"):
			overflow += count
		default:
			series = append(series, line)
			admitted += count
			user := strings.TrimSuffix(strings.TrimPrefix(id[:strings.Index(id, " ")], "by-user{user="), "}")
			// An admitted user may miss events that a full parse
			// instance folded before the user got in elsewhere, never
			// gain any.
			if count > perUser[user] {
				t.Errorf("%s: more than the %d events of %s", line, perUser[user], user)
			}
		}
	}
	if len(series) != maxSeries {
		t.Errorf("%d user series in the window, want max_series = %d:\n%s", len(series), maxSeries, strings.Join(series, "\n"))
	}
	if all != n || admitted+overflow != n {
		t.Errorf("all = %d, user series %d + overflow series %d = %d; want %d each", all, admitted, overflow, admitted+overflow, n)
	}
	// Every event outside the 5 series is an overflowed one, counted once
	// (by the parse instance or by the seriescap step, never both).
	refused := int64(n - admitted)
	if d := selfmetrics.OverflowedByMetric.Snapshot()["by-user"] - before; d != refused {
		t.Errorf("process counter: %d overflowed events, want %d (%d events minus the %d in the 5 series)", d, refused, n, admitted)
	}
	beamCount := beamtest.Counter(res, "beametrics", selfmetrics.BeamOverflowedPrefix+"by-user")
	if beamCount != refused {
		t.Errorf("Beam counter (the run summary's): %d overflowed events, want %d", beamCount, refused)
	}
}
