package promremote

import (
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// writeRequest is remote-write 1.0's prometheus.WriteRequest, encoded by
// hand with protowire. github.com/prometheus/prometheus/prompb has the
// generated type, but importing it pulls Prometheus' whole module graph into
// go.mod, raising the go directive and upgrading grpc, genproto, otel and the
// Google API modules under Beam. Only these fields are needed:
//
//	message WriteRequest { repeated TimeSeries timeseries = 1; }
//	message TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; }
//	message Label        { string name = 1; string value = 2; }
//	message Sample       { double value = 1; int64 timestamp = 2; }
//
// It implements Size and MarshalToSizedBuffer, the interface the
// client_golang/exp remote API uses for gogo-style messages.
type writeRequest struct {
	series []timeSeries
}

type timeSeries struct {
	labels  []label // sorted by name
	samples []sample
}

type label struct{ name, value string }

type sample struct {
	value float64
	ts    int64 // milliseconds since the epoch
}

const (
	sampleSize = 1 + 8 // value: tag + fixed64; the timestamp adds its own
)

func (l label) size() int {
	return 1 + protowire.SizeBytes(len(l.name)) + 1 + protowire.SizeBytes(len(l.value))
}

func (s sample) size() int {
	return sampleSize + 1 + protowire.SizeVarint(uint64(s.ts))
}

func (t *timeSeries) size() int {
	n := 0
	for _, l := range t.labels {
		n += 1 + protowire.SizeBytes(l.size())
	}
	for _, s := range t.samples {
		n += 1 + protowire.SizeBytes(s.size())
	}
	return n
}

// Size returns the encoded length.
func (w *writeRequest) Size() int {
	n := 0
	for i := range w.series {
		n += 1 + protowire.SizeBytes(w.series[i].size())
	}
	return n
}

// MarshalToSizedBuffer encodes into buf, which must be exactly Size() long.
func (w *writeRequest) MarshalToSizedBuffer(buf []byte) (int, error) {
	b := buf[:0]
	for i := range w.series {
		t := &w.series[i]
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(t.size()))
		for _, l := range t.labels {
			b = protowire.AppendTag(b, 1, protowire.BytesType)
			b = protowire.AppendVarint(b, uint64(l.size()))
			b = protowire.AppendTag(b, 1, protowire.BytesType)
			b = protowire.AppendString(b, l.name)
			b = protowire.AppendTag(b, 2, protowire.BytesType)
			b = protowire.AppendString(b, l.value)
		}
		for _, s := range t.samples {
			b = protowire.AppendTag(b, 2, protowire.BytesType)
			b = protowire.AppendVarint(b, uint64(s.size()))
			b = protowire.AppendTag(b, 1, protowire.Fixed64Type)
			b = protowire.AppendFixed64(b, math.Float64bits(s.value))
			b = protowire.AppendTag(b, 2, protowire.VarintType)
			b = protowire.AppendVarint(b, uint64(s.ts))
		}
	}
	return len(b), nil
}

// Marshal returns the encoding in a new buffer.
func (w *writeRequest) Marshal() []byte {
	buf := make([]byte, w.Size())
	n, _ := w.MarshalToSizedBuffer(buf)
	return buf[:n]
}
