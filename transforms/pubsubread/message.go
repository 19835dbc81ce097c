package pubsubread

import (
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
)

// Message is one Pub/Sub message as the source emits it. Its element event
// time is PublishTime.
type Message struct {
	ID          string
	Data        []byte
	Attributes  map[string]string
	PublishTime time.Time
}

func init() {
	// A hand-written coder: a message crosses the runner boundary after the
	// source, and this one is smaller and faster than the generic ones (see
	// BenchmarkMessageCoder).
	beam.RegisterCoder(reflect.TypeOf(Message{}), encodeMessage, decodeMessage)
}

// encodeMessage writes ID, Data, the attributes (count, then key/value
// pairs; map order, which decoding does not depend on) and the publish time
// in Unix nanoseconds, each string length-prefixed with a uvarint.
func encodeMessage(m Message) []byte {
	size := len(m.ID) + len(m.Data) + 3*binary.MaxVarintLen64
	for k, v := range m.Attributes {
		size += len(k) + len(v) + 2*binary.MaxVarintLen64
	}
	b := make([]byte, 0, size)
	b = appendBytes(b, m.ID)
	b = appendBytes(b, m.Data)
	b = binary.AppendUvarint(b, uint64(len(m.Attributes)))
	for k, v := range m.Attributes {
		b = appendBytes(b, k)
		b = appendBytes(b, v)
	}
	var nanos int64
	if !m.PublishTime.IsZero() {
		nanos = m.PublishTime.UnixNano()
	}
	return binary.AppendVarint(b, nanos)
}

func appendBytes[T string | []byte](b []byte, s T) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

var errShortMessage = errors.New("pubsubread: encoded message is truncated")

func decodeMessage(b []byte) (Message, error) {
	var m Message
	d := decoder{b: b}
	m.ID = string(d.bytes())
	if data := d.bytes(); len(data) > 0 {
		m.Data = append([]byte(nil), data...)
	}
	if n := d.uvarint(); n > 0 && d.err == nil {
		if n > uint64(len(d.b)) {
			return Message{}, fmt.Errorf("pubsubread: encoded message claims %d attributes in %d bytes", n, len(d.b))
		}
		m.Attributes = make(map[string]string, n)
		for range n {
			k := string(d.bytes())
			m.Attributes[k] = string(d.bytes())
		}
	}
	nanos, n := binary.Varint(d.b)
	if d.err != nil || n <= 0 {
		return Message{}, errShortMessage
	}
	if nanos != 0 {
		m.PublishTime = time.Unix(0, nanos).UTC()
	}
	if len(d.b) != n {
		return Message{}, fmt.Errorf("pubsubread: %d unexpected bytes after an encoded message", len(d.b)-n)
	}
	return m, nil
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errShortMessage
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = errShortMessage
		return nil
	}
	s := d.b[:n]
	d.b = d.b[n:]
	return s
}
