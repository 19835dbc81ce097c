package aggregate_test

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/beametrics/beametrics/internal/aggregate"
)

func sampleAccs() map[string]*aggregate.Acc {
	out := map[string]*aggregate.Acc{"empty": {}}
	c := &aggregate.Acc{}
	for range 1000 {
		c.AddCount()
	}
	out["count"] = c
	v := &aggregate.Acc{}
	v.AddValue(-12.5, -3, nil)
	v.AddValue(1e300, 1<<62, nil)
	v.AddValue(math.SmallestNonzeroFloat64, 0, nil)
	out["values"] = v
	d := &aggregate.Acc{}
	for i := range 500 {
		d.AddValue(float64(i), int64(i), []float64{1, 10, 100})
	}
	out["distribution"] = d
	s := &aggregate.Acc{}
	for i := range 5 {
		s.AddDistinct(fmt.Appendf(nil, "%d", i))
	}
	out["small sketch"] = s
	l := &aggregate.Acc{}
	for i := range 50000 {
		l.AddDistinct(fmt.Appendf(nil, "user-%d", i))
	}
	out["large sketch"] = l
	return out
}

func TestBinaryRoundTrip(t *testing.T) {
	for name, a := range sampleAccs() {
		t.Run(name, func(t *testing.T) {
			b, err := a.AppendBinary([]byte("prefix"))
			if err != nil {
				t.Fatal(err)
			}
			if string(b[:6]) != "prefix" {
				t.Fatal("AppendBinary did not append")
			}
			got, err := aggregate.DecodeBinary(b[6:])
			if err != nil {
				t.Fatal(err)
			}
			sameValues(t, "decoded", got, a)
			if got.Count != a.Count {
				t.Errorf("count %d, want %d", got.Count, a.Count)
			}
			if (got.Sketch == nil) != (a.Sketch == nil) {
				t.Errorf("sketch presence changed")
			}
			// A decoded accumulator keeps working.
			got.Merge(a)
			if got.Count != 2*a.Count {
				t.Errorf("merge after decode: count %d", got.Count)
			}
		})
	}
}

// TestDecodeTruncated: every strict prefix of a valid encoding is an error,
// never a panic or a silently shorter value.
func TestDecodeTruncated(t *testing.T) {
	for name, a := range sampleAccs() {
		b, err := a.AppendBinary(nil)
		if err != nil {
			t.Fatal(err)
		}
		step := 1
		if len(b) > 2000 {
			step = 7
		}
		for n := 0; n < len(b); n += step {
			if _, err := aggregate.DecodeBinary(b[:n]); err == nil {
				t.Errorf("%s: a %d-byte prefix of %d bytes decoded", name, n, len(b))
			}
		}
	}
}

func TestDecodeGarbage(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, b := range [][]byte{
		nil, {0}, {0xff}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		append(make([]byte, 33), 0xff, 0xff, 0xff, 0xff, 0x0f), // bucket count far beyond the data
	} {
		if _, err := aggregate.DecodeBinary(b); err == nil {
			t.Errorf("DecodeBinary(%x) accepted", b)
		}
	}
	// Random bytes and random corruptions of valid encodings never panic.
	valid := sampleAccs()["large sketch"]
	enc, _ := valid.AppendBinary(nil)
	for range 2000 {
		b := make([]byte, rng.IntN(200))
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		_, _ = aggregate.DecodeBinary(b)
		c := append([]byte(nil), enc...)
		for range 1 + rng.IntN(4) {
			c[rng.IntN(len(c))] = byte(rng.UintN(256))
		}
		_, _ = aggregate.DecodeBinary(c)
	}
}

// FuzzDecodeBinary: any bytes decode to an error or to an accumulator
// that encodes back to a value that decodes the same; never a panic.
func FuzzDecodeBinary(f *testing.F) {
	for _, a := range sampleAccs() {
		b, _ := a.AppendBinary(nil)
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0x80})
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := aggregate.DecodeBinary(data)
		if err != nil {
			return
		}
		b, err := a.AppendBinary(nil)
		if err != nil {
			return // a sketch that cannot marshal again is refused there
		}
		a2, err := aggregate.DecodeBinary(b)
		if err != nil {
			t.Fatalf("re-encoding of a decoded value does not decode: %v", err)
		}
		same := a2.Count == a.Count && a2.LatestTime == a.LatestTime && len(a2.Buckets) == len(a.Buckets) &&
			math.Float64bits(a2.Sum) == math.Float64bits(a.Sum) && math.Float64bits(a2.Min) == math.Float64bits(a.Min) &&
			math.Float64bits(a2.Max) == math.Float64bits(a.Max) && math.Float64bits(a2.Latest) == math.Float64bits(a.Latest)
		if !same {
			t.Fatalf("round trip changed the value:\n%+v\n%+v", a, a2)
		}
		_ = a.Int(aggregate.Distinct)
		a.Merge(a2)
	})
}

// TestDecodeCorruptSketch: sketch bytes that the sketch library would
// accept and then panic on, or allocate gigabytes for, are errors.
func TestDecodeCorruptSketch(t *testing.T) {
	encode := func(sketch []byte) []byte {
		b, _ := (&aggregate.Acc{}).AppendBinary(nil)
		b = b[:len(b)-1] // drop the empty sketch's length
		b = binary.AppendUvarint(b, uint64(len(sketch)))
		return append(b, sketch...)
	}
	dense := func(version, p byte, regs int) []byte {
		b := []byte{version, p, 0, 0, byte(regs >> 24), byte(regs >> 16), byte(regs >> 8), byte(regs)}
		return append(b, make([]byte, regs)...)
	}
	for name, sketch := range map[string][]byte{
		"version 1 dense (twice the registers)": dense(1, 14, 1<<14),
		"precision 4":                           dense(2, 4, 16),
		"dense too short":                       dense(2, 14, 100),
		"sparse set of 2^32 values":             {2, 14, 0, 1, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		"sparse list of 4 GB":                   {2, 14, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 1},
		"sparse list cut in a varint":           {2, 14, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0x80},
		"layout 7":                              {2, 14, 0, 7, 0, 0, 0, 0},
	} {
		if _, err := aggregate.DecodeBinary(encode(sketch)); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
	// The check is not too strict: a real dense sketch still decodes.
	real := dense(2, 14, 1<<14)
	if _, err := aggregate.DecodeBinary(encode(real)); err != nil {
		t.Errorf("an empty dense sketch: %v", err)
	}
}
