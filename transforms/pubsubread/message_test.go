package pubsubread

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
)

func sampleMessage() Message {
	return Message{
		ID:          "12345678901234",
		Data:        []byte(`{"severity":"ERROR","service":"checkout","latency_ms":231,"message":"upstream timed out"}`),
		Attributes:  map[string]string{"pipeline-id": "0", "pipeline-env": "blue", "logging.googleapis.com/timestamp": "2025-02-07T15:12:43Z"},
		PublishTime: time.Date(2025, 2, 7, 15, 12, 43, 123456789, time.UTC),
	}
}

func TestMessageCoderRoundTrip(t *testing.T) {
	for _, m := range []Message{sampleMessage(), {ID: "only-id"}, {}} {
		enc := beam.NewElementEncoder(reflect.TypeOf(Message{}))
		dec := beam.NewElementDecoder(reflect.TypeOf(Message{}))
		var buf bytes.Buffer
		if err := enc.Encode(m, &buf); err != nil {
			t.Fatalf("encode %+v: %v", m, err)
		}
		got, err := dec.Decode(&buf)
		if err != nil {
			t.Fatalf("decode %+v: %v", m, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("round trip changed the message:\n got %+v\nwant %+v", got, m)
		}
	}
}

func TestMessageDecodeRejectsDamage(t *testing.T) {
	b := encodeMessage(sampleMessage())
	for _, cut := range []int{0, 1, 5, len(b) / 2, len(b) - 1} {
		if _, err := decodeMessage(b[:cut]); err == nil {
			t.Errorf("decoding the first %d of %d bytes succeeded, want an error", cut, len(b))
		}
	}
	if _, err := decodeMessage(append(b, 0)); err == nil || !strings.Contains(err.Error(), "unexpected bytes") {
		t.Errorf("decoding with a trailing byte: err = %v, want unexpected bytes", err)
	}
}

// schemaMessage has Message's fields but no registered coder, so Beam uses
// its default (schema) coder: the baseline for BenchmarkMessageCoder.
type schemaMessage struct {
	ID          string
	Data        []byte
	Attributes  map[string]string
	PublishTime time.Time
}

func init() { beam.RegisterType(reflect.TypeOf(schemaMessage{})) }

func BenchmarkMessageCoder(b *testing.B) {
	m := sampleMessage()
	run := func(b *testing.B, v any) {
		enc := beam.NewElementEncoder(reflect.TypeOf(v))
		dec := beam.NewElementDecoder(reflect.TypeOf(v))
		var buf bytes.Buffer
		if err := enc.Encode(v, &buf); err != nil {
			b.Fatal(err)
		}
		size := buf.Len()
		b.ReportAllocs()
		for b.Loop() {
			buf.Reset()
			if err := enc.Encode(v, &buf); err != nil {
				b.Fatal(err)
			}
			if _, err := dec.Decode(&buf); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(size), "bytes/msg")
	}
	b.Run("custom", func(b *testing.B) { run(b, m) })
	b.Run("schema", func(b *testing.B) { run(b, schemaMessage(m)) })
}
