// Package syncbuf is a bytes.Buffer that goroutines (or a child process's
// output copier) may write while a test reads it.
package syncbuf

import (
	"bytes"
	"sync"
)

// Buffer serializes every Write and String under one lock, as a shared
// standard output would, so writes never interleave.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
