package event

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"unicode/utf8"
)

// Schema is the set of field paths a config reads. A Reader built on a
// Schema reads an event in one pass that validates the whole JSON text but
// keeps only the values of those paths, instead of building a tree of
// every value: most of a log line is never looked at.
type Schema struct {
	id    *byte // identity: paths compiled for another schema fall back
	root  *schemaNode
	slots int
}

type schemaNode struct {
	slot int // -1 when the path ending here is not read itself
	// children is a slice, not a map: a config reads a handful of keys
	// per object, and comparing a few strings beats hashing each key.
	children []schemaChild
	// lengths has bit len(key)%64 set for every child key, so that most
	// keys the config does not read are passed over without a compare.
	lengths uint64
}

type schemaChild struct {
	key  string
	word uint64 // a key of up to eight bytes, as a little-endian word
	node *schemaNode
}

// childAt is child for the unescaped key b[start:end] of an event: a key
// of up to eight bytes is compared as one word, without a call.
func (n *schemaNode) childAt(b []byte, start, end int) *schemaNode {
	size := end - start
	if size > 8 || start+8 > len(b) {
		return n.child(b[start:end])
	}
	return n.wordChild(binary.LittleEndian.Uint64(b[start:]), size)
}

// shortKey scans a key at start (just after its opening quote) that ends
// within eight plain bytes, and looks it up in the word it was scanned
// from. ok is false for other keys, which the caller scans and looks up
// the long way.
func (n *schemaNode) shortKey(b []byte, start int) (end int, child *schemaNode, ok bool) {
	// The scan is shortString's, repeated so that the hottest path of all
	// makes one call, not two.
	if start+8 > len(b) {
		return 0, nil, false
	}
	w := binary.LittleEndian.Uint64(b[start:])
	m := special8(w)
	size := bits.TrailingZeros64(m) >> 3
	if m == 0 || b[start+size] != '"' {
		return 0, nil, false
	}
	return start + size + 1, n.wordChild(w, size), true
}

// wordChild returns the child whose key is the first size (at most eight)
// bytes of the little-endian word w.
func (n *schemaNode) wordChild(w uint64, size int) *schemaNode {
	if n.lengths&(1<<size) == 0 {
		return nil
	}
	w &= ^uint64(0) >> (64 - 8*size)
	for i := range n.children {
		if c := &n.children[i]; c.word == w && len(c.key) == size {
			return c.node
		}
	}
	return nil
}

// keyWord returns a key of up to eight bytes as childAt compares it.
func keyWord(key string) uint64 {
	if len(key) > 8 {
		return 0
	}
	var buf [8]byte
	copy(buf[:], key)
	return binary.LittleEndian.Uint64(buf[:])
}

func (n *schemaNode) child(key []byte) *schemaNode {
	if n.lengths&(1<<(len(key)%64)) == 0 {
		return nil
	}
	for i := range n.children {
		if n.children[i].key == string(key) {
			return n.children[i].node
		}
	}
	return nil
}

// NewSchema makes an empty schema.
func NewSchema() *Schema {
	return &Schema{id: new(byte), root: &schemaNode{slot: -1}}
}

// Add registers p so that readers on s find it in their single pass. It
// must be called before readers are made.
func (s *Schema) Add(p *Path) {
	n := s.root
	for _, k := range p.keys {
		c := n.child([]byte(k))
		if c == nil {
			c = &schemaNode{slot: -1}
			n.children = append(n.children, schemaChild{key: k, word: keyWord(k), node: c})
			n.lengths |= 1 << (len(k) % 64)
		}
		n = c
	}
	if n.slot < 0 {
		n.slot = s.slots
		s.slots++
	}
	p.schema, p.slot = s.id, n.slot
}

// NewReader makes a Reader that projects events onto s.
func (s *Schema) NewReader() *Reader {
	r := &Reader{schema: s, slots: make([]slotValue, s.slots)}
	for i := range r.slots {
		r.slots[i].reader = r
	}
	return r
}

// slotValue is one projected value: its kind and where its text is in the
// body. It holds offsets rather than a slice of the body: storing a pointer
// into the heap on every event costs a write barrier while the collector
// runs.
type slotValue struct {
	gen        uint32 // equals Reader.gen when set for the current event
	kind       Kind
	escaped    bool  // a string with escapes: the text needs unescaping
	unescaped  bool  // str holds the unescaped text of this event's value
	start, end int32 // string contents without quotes, or the value's text
	num        float64
	numOK      int8 // 0 unknown, 1 parsed, -1 not a finite number
	str        []byte
	reader     *Reader // whose body the offsets are in; set once
}

// The scanner keeps its position in local variables and passes it along,
// rather than in a struct field: the compiler then holds it in a register,
// which is most of the difference on log-sized records.
type scanner struct {
	b     []byte
	slots []slotValue
	gen   uint32
}

func failAt(what string, i int) error {
	return fmt.Errorf("%s at offset %d", what, i)
}

// skipWS returns the offset of the first non-space byte at or after i.
func skipWS(b []byte, i int) int {
	for i < len(b) && b[i] <= ' ' && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// project scans the whole body, which must be one JSON object.
func (r *Reader) project(body []byte) error {
	sc := scanner{b: body, slots: r.slots, gen: r.gen}
	i := skipWS(body, 0)
	if i >= len(body) {
		return &RefusedError{Reason: ReasonInvalidJSON, Detail: "empty record"}
	}
	refused := func(err error) error {
		// Invalid UTF-8 anywhere is that, whatever else is wrong; where
		// the scan found no other error it checked every non-ASCII byte.
		if err == errInvalidUTF8 || !utf8.Valid(body) {
			return &RefusedError{Reason: ReasonInvalidUTF8}
		}
		if errors.Is(err, errTooDeep) {
			return &RefusedError{Reason: ReasonTooDeep, Detail: err.Error()}
		}
		return &RefusedError{Reason: ReasonInvalidJSON, Detail: err.Error()}
	}
	if body[i] != '{' {
		start := i
		if _, err := sc.value(i, nil, 0); err != nil {
			return refused(err)
		}
		if !utf8.Valid(body) {
			return &RefusedError{Reason: ReasonInvalidUTF8}
		}
		return &RefusedError{Reason: ReasonNotObject, Detail: "a JSON " + kindOf(body[start]).String()}
	}
	i, err := sc.value(i, r.schema.root, 0)
	if err != nil {
		return refused(err)
	}
	if i = skipWS(body, i); i != len(body) {
		return refused(failAt("text after the object", i))
	}
	return nil
}

func kindOf(c byte) Kind {
	switch c {
	case '"':
		return String
	case '{':
		return Object
	case '[':
		return Array
	case 't', 'f':
		return Bool
	case 'n':
		return Null
	}
	return Number
}

var (
	errTooDeep     = errors.New("nesting too deep")
	errInvalidUTF8 = errors.New("invalid UTF-8")
)

// maxScanDepth bounds recursion on hostile input.
const maxScanDepth = 200

// value scans one value at or after offset i and returns the offset after
// it. node, when not nil, is the schema node of the path leading here: its
// slot receives the value and its children are looked for inside objects.
// depth counts the objects and arrays around the value.
func (sc *scanner) value(i int, node *schemaNode, depth int) (int, error) {
	b := sc.b
	if i < len(b) && b[i] <= ' ' {
		i = skipWS(b, i)
	}
	if i >= len(b) {
		return i, failAt("unexpected end", i)
	}
	start := i
	var kind Kind
	var err error
	escaped := false
	rawStart, rawEnd := start, -1
	switch c := b[i]; {
	case c == '"':
		kind = String
		if i, escaped, err = scanString(b, i+1); err != nil {
			return i, err
		}
		rawStart, rawEnd = start+1, i-1
	case c == '{':
		kind = Object
		i, err = sc.object(i, node, depth+1)
	case c == '[':
		kind = Array
		i, err = sc.array(i, depth+1)
	case c == 't':
		kind = Bool
		i, err = literal(b, i, "true")
	case c == 'f':
		kind = Bool
		i, err = literal(b, i, "false")
	case c == 'n':
		kind = Null
		i, err = literal(b, i, "null")
	case c == '-' || (c >= '0' && c <= '9'):
		kind = Number
		i, err = scanNumber(b, i)
	default:
		return i, failAt(fmt.Sprintf("unexpected %q", c), i)
	}
	if err != nil {
		return i, err
	}
	if rawEnd < 0 {
		rawEnd = i
	}
	if node != nil && node.slot >= 0 {
		sc.record(node.slot, kind, escaped, rawStart, rawEnd)
	}
	return i, nil
}

// record sets a slot to the value whose text is b[start:end].
func (sc *scanner) record(slot int, kind Kind, escaped bool, start, end int) {
	s := &sc.slots[slot]
	if s.gen != sc.gen { // the first of duplicate keys wins
		s.gen, s.kind, s.escaped, s.unescaped, s.numOK = sc.gen, kind, escaped, false, 0
		s.start, s.end = int32(start), int32(end)
	}
}

// object scans the object whose '{' is at offset i.
func (sc *scanner) object(i int, node *schemaNode, depth int) (int, error) {
	if depth > maxScanDepth {
		return i, fmt.Errorf("%w: deeper than %d", errTooDeep, maxScanDepth)
	}
	b := sc.b
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	lookup := node != nil && len(node.children) > 0
	for {
		if i >= len(b) || b[i] != '"' {
			if i = skipWS(b, i); i >= len(b) || b[i] != '"' {
				return i, failAt("expected a key", i)
			}
		}
		keyStart := i + 1
		escaped, err := false, error(nil)
		var child *schemaNode
		if lookup {
			// A short key is scanned and looked up from one word.
			if end, c, ok := node.shortKey(b, keyStart); ok {
				i, child = end, c
			} else if i, escaped, err = scanString(b, keyStart); err != nil {
				return i, err
			} else if escaped {
				child = node.child(unescape(nil, b[keyStart:i-1]))
			} else {
				child = node.childAt(b, keyStart, i-1)
			}
		} else if end, ok := shortString(b, keyStart); ok {
			i = end
		} else if i, _, err = scanString(b, keyStart); err != nil {
			return i, err
		}
		// Log lines are mostly compact: look for the separator before
		// skipping spaces.
		if i >= len(b) || b[i] != ':' {
			if i = skipWS(b, i); i >= len(b) || b[i] != ':' {
				return i, failAt("expected ':'", i)
			}
		}
		i++
		if i < len(b) && b[i] == '"' {
			// Most values in logs are strings: scan them here rather
			// than through value.
			start := i
			if end, ok := shortString(b, i+1); ok {
				i, escaped = end, false
			} else if i, escaped, err = scanString(b, i+1); err != nil {
				return i, err
			}
			if child != nil && child.slot >= 0 {
				sc.record(child.slot, String, escaped, start+1, i-1)
			}
		} else if i, err = sc.value(i, child, depth); err != nil {
			return i, err
		}
		if i < len(b) && b[i] == ',' {
			i++
			continue
		}
		if i = skipWS(b, i); i >= len(b) {
			return i, failAt("unexpected end in object", i)
		}
		switch b[i] {
		case ',':
			i++
		case '}':
			return i + 1, nil
		default:
			return i, failAt("expected ',' or '}'", i)
		}
	}
}

// array scans the array whose '[' is at offset i.
func (sc *scanner) array(i int, depth int) (int, error) {
	if depth > maxScanDepth {
		return i, fmt.Errorf("%w: deeper than %d", errTooDeep, maxScanDepth)
	}
	b := sc.b
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, nil
	}
	for {
		var err error
		if i, err = sc.value(i, nil, depth); err != nil {
			return i, err
		}
		i = skipWS(b, i)
		if i >= len(b) {
			return i, failAt("unexpected end in array", i)
		}
		switch b[i] {
		case ',':
			i++
		case ']':
			return i + 1, nil
		default:
			return i, failAt("expected ',' or ']'", i)
		}
	}
}

// shortString is scanString's fast path: a string body at i that ends
// within eight bytes with nothing to look at before its closing quote, as
// most keys and many values do. It returns the offset after the quote.
func shortString(b []byte, i int) (int, bool) {
	if i+8 > len(b) {
		return 0, false
	}
	m := special8(binary.LittleEndian.Uint64(b[i:]))
	j := i + bits.TrailingZeros64(m)>>3
	if m == 0 || b[j] != '"' {
		return 0, false
	}
	return j + 1, true
}

// scanString scans a string body starting at offset i (just after the
// opening quote) and returns the offset after the closing quote and
// whether the string has escapes. Control characters must be escaped, as
// JSON requires.
func scanString(b []byte, i int) (int, bool, error) {
	escaped := false
	for {
		// Eight bytes at a time; the lowest flagged byte of the mask is
		// exactly the first byte that needs a look.
		if i+8 <= len(b) {
			m := special8(binary.LittleEndian.Uint64(b[i:]))
			if m == 0 {
				i += 8
				continue
			}
			i += bits.TrailingZeros64(m) >> 3
		} else {
			for i < len(b) && b[i] >= 0x20 && b[i] < utf8.RuneSelf && b[i] != '"' && b[i] != '\\' {
				i++
			}
			if i >= len(b) {
				return i, false, failAt("unterminated string", i)
			}
		}
		switch b[i] {
		case '"':
			return i + 1, escaped, nil
		case '\\':
			escaped = true
			if i+1 >= len(b) {
				return i, false, failAt("unterminated escape", i)
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !isHex4(b[i+2:i+6]) {
					return i, false, failAt("bad \\u escape", i)
				}
				i += 6
			default:
				return i, false, failAt("bad escape", i)
			}
		default:
			if b[i] < utf8.RuneSelf {
				return i, false, failAt("control character in string", i)
			}
			// Only strings may hold non-ASCII text, so checking it here
			// spares a separate pass over the whole record.
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				return i, false, errInvalidUTF8
			}
			i += size
		}
	}
}

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// special8 flags (in the high bit of each byte) the bytes of w that are
// '"', '\\', a control character (< 0x20) or not ASCII, with the classic bit tricks
// for finding a zero byte and a byte below a bound in a word. A borrow can
// flag a byte above a flagged one, never below, so the lowest flag is
// exact.
func special8(w uint64) uint64 {
	hasZero := func(x uint64) uint64 { return (x - ones) &^ x & highs }
	quote := hasZero(w ^ (ones * '"'))
	slash := hasZero(w ^ (ones * '\\'))
	// A byte below 0x20 has its high bit set after the subtraction, a
	// byte of 0x80 or more before it.
	controlOrHigh := ((w - ones*0x20) | w) & highs
	return quote | slash | controlOrHigh
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// literal checks that word is at offset i and returns the offset after it.
func literal(b []byte, i int, word string) (int, error) {
	if len(b)-i < len(word) || string(b[i:i+len(word)]) != word {
		return i, failAt("bad literal", i)
	}
	return i + len(word), nil
}

// scanNumber scans a number at offset i with JSON's grammar,
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, and returns the offset
// after it.
func scanNumber(b []byte, i int) (int, error) {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = skipDigits(b, i+1)
	default:
		return i, failAt("bad number", i)
	}
	if i < len(b) && b[i] == '.' {
		j := skipDigits(b, i+1)
		if j == i+1 {
			return j, failAt("bad number", j)
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := skipDigits(b, i)
		if j == i {
			return j, failAt("bad number", j)
		}
		i = j
	}
	return i, nil
}

func skipDigits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

// unescape appends the unescaped contents of a valid JSON string body.
func unescape(dst, s []byte) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			dst = append(dst, c)
			continue
		}
		i++
		switch s[i] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := rune(hexVal(s[i+1 : i+5]))
			i += 4
			if r >= 0xD800 && r < 0xDC00 && i+6 < len(s) && s[i+1] == '\\' && s[i+2] == 'u' {
				lo := rune(hexVal(s[i+3 : i+7]))
				if lo >= 0xDC00 && lo < 0xE000 {
					r = (r-0xD800)<<10 + (lo - 0xDC00) + 0x10000
					i += 6
				}
			}
			dst = utf8.AppendRune(dst, r)
		default: // " \ /
			dst = append(dst, s[i])
		}
	}
	return dst
}

func hexVal(b []byte) int {
	v := 0
	for _, c := range b {
		v <<= 4
		switch {
		case c >= '0' && c <= '9':
			v |= int(c - '0')
		case c >= 'a' && c <= 'f':
			v |= int(c-'a') + 10
		default:
			v |= int(c-'A') + 10
		}
	}
	return v
}
