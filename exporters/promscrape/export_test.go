package promscrape

// Close stops the server. The product never does: the endpoint lives as
// long as the process.
func (s *Server) Close() error { return s.http.Close() }
