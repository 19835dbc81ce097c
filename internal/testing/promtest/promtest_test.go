package promtest

import (
	"testing"
	"time"
)

func TestStartAndQuery(t *testing.T) {
	s := Start(t)
	at := time.Unix(1764000000, 0)
	got, err := s.Query("vector(42)", at)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Value != 42 || !got[0].Time.Equal(at) {
		t.Fatalf("vector(42) = %+v", got)
	}
	if _, err := s.Query("sum(", at); err == nil {
		t.Error("a broken query must be an error")
	}
	series, err := s.Raw("nothing_here", at, time.Minute)
	if err != nil || len(series) != 0 {
		t.Errorf("empty TSDB: %v, %v", series, err)
	}
	if k := Key(map[string]string{"__name__": "m", "b": "2", "a": "1"}); k != `m{a="1",b="2"}` {
		t.Errorf("Key = %s", k)
	}
}

func TestSkipsWhenMissing(t *testing.T) {
	t.Setenv("PROMTEST_PROMETHEUS", "/nonexistent/prometheus")
	var skipped bool
	t.Run("inner", func(t *testing.T) {
		defer func() { skipped = t.Skipped() }()
		Start(t)
	})
	if !skipped {
		t.Error("Start did not skip without the binary")
	}
}
