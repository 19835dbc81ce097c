package config_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/beametrics/beametrics/internal/config"
)

// A Source is copied into the pipeline graph once per DoFn that carries
// it, and the runner copies the graph many times: it must travel
// compressed, and arrive as it left.
func TestSourceTravelsCompressed(t *testing.T) {
	src := config.Source{
		Name:      "large.yaml",
		Text:      largeConfig(5 << 20),
		Overrides: config.Overrides{Window: 2 * time.Minute, ExportType: "local", EventTimeField: "ts"},
	}
	b, err := json.Marshal(src)
	if err != nil {
		t.Fatal(err)
	}
	// The list's lines differ only in a counter, so it compresses far
	// below a tenth; as plain JSON it would be a third larger than the text.
	if len(b) > len(src.Text)/10 {
		t.Errorf("the encoded source is %d bytes for %d bytes of text, want under a tenth", len(b), len(src.Text))
	}
	var got config.Source
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Name != src.Name || got.Overrides != src.Overrides || !bytes.Equal(got.Text, src.Text) {
		t.Errorf("decoded source differs: name %q, overrides %+v, %d bytes of text (same: %v)",
			got.Name, got.Overrides, len(got.Text), bytes.Equal(got.Text, src.Text))
	}
}

func TestDamagedSourceIsAnError(t *testing.T) {
	var got config.Source
	err := json.Unmarshal([]byte(`{"Name":"a.yaml","TextZstd":"bm90IHpzdGQ=","Overrides":{}}`), &got)
	if err == nil {
		t.Fatal("a source whose text is not zstd decoded without error")
	}
}
