package config

import (
	"encoding/json"
	"fmt"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// A Source travels inside the pipeline graph: Beam encodes each DoFn's
// fields as JSON, puts that in the pipeline proto, and the runner and
// every worker copy and decode it again, once per DoFn that carries the
// config. With the text as it is, a 50 MB config (a long not_in list)
// became about 90 MB per DoFn after base64 twice and made a run with no
// input take 3.4 GB and 16 s. Compressed, the graph carries what the text
// really holds.

// wireSource is a Source's JSON form.
type wireSource struct {
	Name      string
	TextZstd  []byte
	Overrides Overrides
}

// The encoder and decoder are safe for concurrent use and costly to make.
var (
	zstdOnce sync.Once
	zstdEnc  *zstd.Encoder
	zstdDec  *zstd.Decoder
	zstdErr  error
)

func zstdCodec() (*zstd.Encoder, *zstd.Decoder, error) {
	zstdOnce.Do(func() {
		if zstdEnc, zstdErr = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1)); zstdErr != nil {
			return
		}
		zstdDec, zstdErr = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
	})
	return zstdEnc, zstdDec, zstdErr
}

// MarshalJSON writes the source with its text compressed.
func (s Source) MarshalJSON() ([]byte, error) {
	enc, _, err := zstdCodec()
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", s.Name, err)
	}
	return json.Marshal(wireSource{Name: s.Name, TextZstd: enc.EncodeAll(s.Text, nil), Overrides: s.Overrides})
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (s *Source) UnmarshalJSON(b []byte) error {
	var w wireSource
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	_, dec, err := zstdCodec()
	if err != nil {
		return fmt.Errorf("config %s: %w", w.Name, err)
	}
	text, err := dec.DecodeAll(w.TextZstd, nil)
	if err != nil {
		return fmt.Errorf("config %s: the pipeline's copy of the text is damaged: %w", w.Name, err)
	}
	*s = Source{Name: w.Name, Text: text, Overrides: w.Overrides}
	return nil
}
