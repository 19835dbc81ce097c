// Package loopback serves a test's HTTP handler on a chosen loopback
// address, so that two servers are two hosts to net/http (127.0.0.1 and
// 127.0.0.2), as tests of cross-host redirects need.
package loopback

import (
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

// Serve starts a server for h on host (a loopback address) and closes it
// when the test ends; it skips the test where host cannot be bound.
func Serve(t testing.TB, host string, h http.Handler) *httptest.Server {
	t.Helper()
	l, err := net.Listen("tcp", host+":0")
	if err != nil {
		t.Skipf("cannot listen on %s (needs the 127.0.0.0/8 loopback range): %v", host, err)
	}
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: h}}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}
