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
		sk, err := decodeSketch(b[:ns])
		if err != nil {
			return nil, fmt.Errorf("aggregate: sketch: %w", err)
		}
		a.Sketch = sk
	}
	return a, nil
}

// decodeSketch reads a sketch made by newSketch. The library trusts its
// input: on corrupt bytes it allocates sizes read from them, indexes past
// them, and keeps the input slice as its registers. So the layout is
// checked first, the bytes are copied, and the sparse list is walked once
// (under recover) so that a corrupt one fails here, not in a later Merge.
func decodeSketch(b []byte) (sk *hyperloglog.Sketch, err error) {
	const version, p = 2, 14 // as hyperloglog v0.2 writes them
	if len(b) < 8 || b[0] != version || b[1] != p || b[2] != 0 {
		return nil, errors.New("not a version-2, precision-14 sketch")
	}
	n := uint64(len(b))
	switch b[3] {
	case 0: // dense: 2^p one-byte registers
		if regs := uint64(binary.BigEndian.Uint32(b[4:8])); regs != 1<<p || n != 8+regs {
			return nil, errors.New("dense sketch of the wrong size")
		}
	case 1: // sparse: a set of 4-byte values, then a compressed list
		list := 8 + 4*uint64(binary.BigEndian.Uint32(b[4:8]))
		if list+12 > n || list+12+uint64(binary.BigEndian.Uint32(b[list+8:])) != n {
			return nil, errors.New("sparse sketch of the wrong size")
		}
	default:
		return nil, errors.New("unknown sketch layout")
	}
	defer func() {
		if r := recover(); r != nil {
			sk, err = nil, fmt.Errorf("corrupt sketch: %v", r)
		}
	}()
	sk = hyperloglog.New14()
	if err := sk.UnmarshalBinary(append([]byte(nil), b...)); err != nil {
		return nil, err
	}
	if b[3] == 1 {
		if err := hyperloglog.New14().Merge(sk); err != nil {
			return nil, err
		}
	}
	return sk, nil
}
