package cloudmonitoring

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"cloud.google.com/go/monitoring/apiv3/v2/monitoringpb"

	"github.com/beametrics/beametrics/exporters"
	"github.com/beametrics/beametrics/internal/metricdata"
	"github.com/beametrics/beametrics/internal/secrets"
)

// TestServerMessagesAreMaskedAndCut: an API error quoting a secret of the
// process (as a proxy echoing headers might) and holding line breaks is
// masked and flattened in the reasons and the log.
func TestServerMessagesAreMaskedAndCut(t *testing.T) {
	const secret = "cm-Secret-4b1e77"
	secrets.Register(secret)
	srv, e := started(t, exporters.CloudMonitoringSettings{})
	var logs bytes.Buffer
	e.opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	srv.RejectSeries(func(*monitoringpb.TimeSeries) string {
		return "token " + secret + "\nlevel=ERROR msg=forged " + strings.Repeat("y", 2000)
	})
	start, end := window(1)
	err := e.Export(context.Background(), []metricdata.Point{{Metric: "requests", Labels: lbl("method", "GET"), Start: start, End: end, Type: metricdata.Int64, Int: 1}})
	var ee *exporters.ExportError
	if !errors.As(err, &ee) || len(ee.Failed) != 1 {
		t.Fatalf("want one failed point, got %v", err)
	}
	r := ee.Failed[0].Reason
	if !strings.Contains(r, "token "+secrets.Mask) || strings.Contains(r, "\n") || len(r) > secrets.MaxText+40 {
		t.Errorf("reason of %d bytes: %q", len(r), r)
	}
	if all := logs.String() + err.Error(); strings.Contains(all, secret) || strings.Contains(all, "\nlevel=ERROR msg=forged") {
		t.Errorf("secret or forged line in the output:\n%s", all)
	}
}
