package syncbuf

import (
	"strings"
	"sync"
	"testing"
)

// TestConcurrentWritesStayWhole: 4 writers of 100 lines each; every line
// arrives whole (run with -race to see the lock matter).
func TestConcurrentWritesStayWhole(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			line := strings.Repeat(string(rune('a'+g)), 30) + "\n"
			for range 100 {
				b.Write([]byte(line))
			}
		}()
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 400 {
		t.Fatalf("%d lines, want 400", len(lines))
	}
	for _, l := range lines {
		if len(l) != 30 || strings.Count(l, l[:1]) != 30 {
			t.Fatalf("interleaved line %q", l)
		}
	}
}
