package aggregate

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/axiomhq/hyperloglog"
)

// AppendBinary appends a compact encoding of a, used as the Beam coder of
// accumulators between workers.
func (a *Acc) AppendBinary(dst []byte) ([]byte, error) {
	dst = binary.AppendVarint(dst, a.Count)
	for _, f := range [...]float64{a.Sum, a.Min, a.Max, a.Latest} {
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(f))
	}
	dst = binary.AppendVarint(dst, a.LatestTime)
	dst = binary.AppendUvarint(dst, uint64(len(a.Buckets)))
	for _, n := range a.Buckets {
		dst = binary.AppendVarint(dst, n)
	}
	if a.Sketch == nil {
		return binary.AppendUvarint(dst, 0), nil
	}
	sk, err := a.Sketch.MarshalBinary()
	if err != nil {
		return nil, err
	}
	dst = binary.AppendUvarint(dst, uint64(len(sk)))
	return append(dst, sk...), nil
}

var errTruncated = errors.New("aggregate: truncated encoding")

// DecodeBinary reads an encoding made by AppendBinary.
func DecodeBinary(b []byte) (*Acc, error) {
	a := &Acc{}
	var n int
	if a.Count, n = binary.Varint(b); n <= 0 {
		return nil, errTruncated
	}
	b = b[n:]
	if len(b) < 32 {
		return nil, errTruncated
	}
	fs := [4]*float64{&a.Sum, &a.Min, &a.Max, &a.Latest}
	for i := range fs {
		*fs[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
	}
	b = b[32:]
	if a.LatestTime, n = binary.Varint(b); n <= 0 {
		return nil, errTruncated
	}
	b = b[n:]
	nb, n := binary.Uvarint(b)
	if n <= 0 || nb > uint64(len(b)) {
		return nil, errTruncated
	}
	b = b[n:]
	if nb > 0 {
		a.Buckets = make([]int64, nb)
		for i := range a.Buckets {
			if a.Buckets[i], n = binary.Varint(b); n <= 0 {
				return nil, errTruncated
			}
			b = b[n:]
		}
	}
	ns, n := binary.Uvarint(b)
	if n <= 0 || ns > uint64(len(b)-n) {
		return nil, errTruncated
	}
	b = b[n:]
	if ns > 0 {
		a.Sketch = hyperloglog.New14()
		if err := a.Sketch.UnmarshalBinary(b[:ns]); err != nil {
			return nil, fmt.Errorf("aggregate: sketch: %w", err)
		}
	}
	return a, nil
}
