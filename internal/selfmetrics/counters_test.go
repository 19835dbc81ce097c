package selfmetrics

import (
	"sync"
	"testing"
)

func TestCountsConcurrentAdds(t *testing.T) {
	var c Counts[Failure]
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				c.Add(Failure{"local", "write"}, 2)
				c.Add(Failure{"prometheus", "HTTP_500"}, 1)
			}
		}()
	}
	wg.Wait()
	got := c.Snapshot()
	if got[Failure{"local", "write"}] != 16000 || got[Failure{"prometheus", "HTTP_500"}] != 8000 || len(got) != 2 {
		t.Fatalf("totals %v, want local/write 16000 and prometheus/HTTP_500 8000", got)
	}
	// The snapshot is a copy: changing it leaves the totals alone.
	got[Failure{"local", "write"}] = 0
	if c.Snapshot()[Failure{"local", "write"}] != 16000 {
		t.Fatal("Snapshot shares its map with the counts")
	}
}

func TestCountsZeroAddCreatesKey(t *testing.T) {
	var c Counts[string]
	c.Add("invalid_json", 0)
	if n, ok := c.Snapshot()["invalid_json"]; !ok || n != 0 {
		t.Fatalf("after Add(k, 0): %v, %v; want 0, present", n, ok)
	}
}

// One Add per bundle and label: this is what a bundle pays per label.
func BenchmarkCountsAdd(b *testing.B) {
	var c Counts[string]
	b.ReportAllocs()
	for b.Loop() {
		c.Add("invalid_json", 1)
	}
}
