// Package all builds exporters by export type, so that callers need not
// import every exporter themselves.
package all

import (
	"context"
	"fmt"
	"strings"

	"github.com/beametrics/beametrics/exporters"
	"github.com/beametrics/beametrics/exporters/cloudmonitoring"
	"github.com/beametrics/beametrics/exporters/local"
	"github.com/beametrics/beametrics/exporters/promremote"
	"github.com/beametrics/beametrics/exporters/promscrape"
)

// New returns the exporter of an export type: google-cloud-monitoring,
// prometheus (remote write) or local. Call Start on it before Export.
func New(ctx context.Context, exportType string, s exporters.Settings) (exporters.Exporter, error) {
	switch exportType {
	case exporters.TypeCloudMonitoring:
		return cloudmonitoring.New(ctx, s.CloudMonitoring, cloudmonitoring.Options{})
	case exporters.TypeRemoteWrite:
		return promremote.New(s.RemoteWrite, promremote.Options{})
	case exporters.TypeLocal:
		return local.Open(s.Local.Path)
	}
	return nil, fmt.Errorf("unknown export type %q (known: %s)", exportType, strings.Join(exporters.ExportTypes, ", "))
}

// Scrape returns an exporter feeding this process's /metrics endpoint on
// s.PrometheusListen, starting the endpoint on first use, or nil when no
// listen address is set. It should be given every metric's points, whatever
// their export type.
func Scrape(s exporters.Settings) (exporters.Exporter, error) {
	if s.PrometheusListen == "" {
		return nil, nil
	}
	srv, err := promscrape.Shared(s.PrometheusListen)
	if err != nil {
		return nil, err
	}
	return promscrape.NewExporter(srv.Store), nil
}
