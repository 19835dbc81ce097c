// Package hang serves HTTP requests that are never answered: the hung
// exporter server of timeout and drain tests.
package hang

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// Server holds every request until the client gives up or the test ends.
type Server struct {
	URL string
	// Reached gets a value when the first request arrives.
	Reached <-chan struct{}
}

// Start starts a Server that stops when the test ends.
func Start(tb testing.TB) *Server {
	reached := make(chan struct{}, 1)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		select {
		case reached <- struct{}{}:
		default:
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	tb.Cleanup(func() { close(release); srv.Close() })
	return &Server{URL: srv.URL, Reached: reached}
}
