package event

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
	"testing"
)

// special8's lowest flag must be exactly the first byte a string scan has
// to look at, for every mix of bytes, borrows included.
func TestSpecial8FindsTheFirstSpecialByte(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	interesting := []byte{0, 1, 0x1f, 0x20, 0x21, '"', '\\', 0x7f, 0x80, 0xff, 'a', '#', '[', ']'}
	var word [8]byte
	for n := 0; n < 1_000_000; n++ {
		for i := range word {
			if rng.IntN(2) == 0 {
				word[i] = interesting[rng.IntN(len(interesting))]
			} else {
				word[i] = byte(rng.Uint32())
			}
		}
		want := 8
		for i, c := range word {
			if c < 0x20 || c >= 0x80 || c == '"' || c == '\\' {
				want = i
				break
			}
		}
		got := 8
		if m := special8(binary.LittleEndian.Uint64(word[:])); m != 0 {
			got = bits.TrailingZeros64(m) >> 3
		}
		if got != want {
			t.Fatalf("% x: first special byte at %d, special8 says %d", word, want, got)
		}
	}
}
