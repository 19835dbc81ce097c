package event

import (
	"encoding/binary"
	"errors"
	"fmt"
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
}

type schemaChild struct {
	key  string
	node *schemaNode
}

func (n *schemaNode) child(key []byte) *schemaNode {
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
			n.children = append(n.children, schemaChild{key: k, node: c})
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
	return &Reader{schema: s, slots: make([]slotValue, s.slots)}
}

// slotValue is one projected value: its kind and raw text.
type slotValue struct {
	gen     uint32 // equals Reader.gen when set for the current event
	kind    Kind
	escaped bool   // a string with escapes: raw needs unescaping
	raw     []byte // string contents without quotes, or the value's text
	num     float64
	numOK   int8 // 0 unknown, 1 parsed, -1 not a finite number
	str     []byte
}

var errSyntax = errors.New("invalid JSON")

// scanner validates JSON text and records the values of schema paths.
type scanner struct {
	b    []byte
	i    int
	r    *Reader
	deep int
}

func (sc *scanner) fail(what string) error {
	return fmt.Errorf("%s at offset %d", what, sc.i)
}

func (sc *scanner) ws() {
	for sc.i < len(sc.b) {
		switch sc.b[sc.i] {
		case ' ', '\t', '\n', '\r':
			sc.i++
		default:
			return
		}
	}
}

// project scans the whole body, which must be one JSON object.
func (r *Reader) project(body []byte) error {
	sc := scanner{b: body, r: r}
	sc.ws()
	if sc.i >= len(body) {
		return &RefusedError{Reason: ReasonInvalidJSON, Detail: "empty record"}
	}
	if body[sc.i] != '{' {
		start := sc.i
		if _, err := sc.value(nil); err != nil {
			if errors.Is(err, errTooDeep) {
				return &RefusedError{Reason: ReasonTooDeep, Detail: err.Error()}
			}
			return &RefusedError{Reason: ReasonInvalidJSON, Detail: err.Error()}
		}
		return &RefusedError{Reason: ReasonNotObject, Detail: "a JSON " + kindOf(body[start]).String()}
	}
	if _, err := sc.value(r.schema.root); err != nil {
		if errors.Is(err, errTooDeep) {
			return &RefusedError{Reason: ReasonTooDeep, Detail: err.Error()}
		}
		return &RefusedError{Reason: ReasonInvalidJSON, Detail: err.Error()}
	}
	sc.ws()
	if sc.i != len(body) {
		return &RefusedError{Reason: ReasonInvalidJSON, Detail: sc.fail("text after the object").Error()}
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

var errTooDeep = errors.New("nesting too deep")

// maxScanDepth bounds recursion on hostile input.
const maxScanDepth = 200

// value scans one value at sc.i. node, when not nil, is the schema node of
// the path leading here: its slot receives the value and its children are
// looked for inside objects. It returns the value's start offset.
func (sc *scanner) value(node *schemaNode) (int, error) {
	sc.ws()
	if sc.i >= len(sc.b) {
		return 0, sc.fail("unexpected end")
	}
	start := sc.i
	c := sc.b[sc.i]
	var kind Kind
	escaped := false
	rawStart, rawEnd := start, 0
	switch {
	case c == '{':
		kind = Object
		if err := sc.object(node); err != nil {
			return 0, err
		}
	case c == '[':
		kind = Array
		if err := sc.array(); err != nil {
			return 0, err
		}
	case c == '"':
		kind = String
		var err error
		if escaped, err = sc.str(); err != nil {
			return 0, err
		}
		rawStart, rawEnd = start+1, sc.i-1
	case c == 't':
		kind = Bool
		if err := sc.lit("true"); err != nil {
			return 0, err
		}
	case c == 'f':
		kind = Bool
		if err := sc.lit("false"); err != nil {
			return 0, err
		}
	case c == 'n':
		kind = Null
		if err := sc.lit("null"); err != nil {
			return 0, err
		}
	case c == '-' || (c >= '0' && c <= '9'):
		kind = Number
		if err := sc.number(); err != nil {
			return 0, err
		}
	default:
		return 0, sc.fail(fmt.Sprintf("unexpected %q", c))
	}
	if rawEnd == 0 {
		rawEnd = sc.i
	}
	if node != nil && node.slot >= 0 {
		s := &sc.r.slots[node.slot]
		if s.gen != sc.r.gen { // the first of duplicate keys wins
			*s = slotValue{gen: sc.r.gen, kind: kind, escaped: escaped, raw: sc.b[rawStart:rawEnd], str: s.str[:0]}
		}
	}
	return start, nil
}

func (sc *scanner) object(node *schemaNode) error {
	sc.deep++
	if sc.deep > maxScanDepth {
		return fmt.Errorf("%w: deeper than %d", errTooDeep, maxScanDepth)
	}
	defer func() { sc.deep-- }()
	sc.i++ // {
	sc.ws()
	if sc.i < len(sc.b) && sc.b[sc.i] == '}' {
		sc.i++
		return nil
	}
	for {
		sc.ws()
		if sc.i >= len(sc.b) || sc.b[sc.i] != '"' {
			return sc.fail("expected a key")
		}
		kstart := sc.i + 1
		escaped, err := sc.str()
		if err != nil {
			return err
		}
		key := sc.b[kstart : sc.i-1]
		var child *schemaNode
		if node != nil && node.children != nil {
			if escaped {
				key = unescape(nil, key)
			}
			child = node.child(key)
		}
		sc.ws()
		if sc.i >= len(sc.b) || sc.b[sc.i] != ':' {
			return sc.fail("expected ':'")
		}
		sc.i++
		if _, err := sc.value(child); err != nil {
			return err
		}
		sc.ws()
		if sc.i >= len(sc.b) {
			return sc.fail("unexpected end in object")
		}
		switch sc.b[sc.i] {
		case ',':
			sc.i++
		case '}':
			sc.i++
			return nil
		default:
			return sc.fail("expected ',' or '}'")
		}
	}
}

func (sc *scanner) array() error {
	sc.deep++
	if sc.deep > maxScanDepth {
		return fmt.Errorf("%w: deeper than %d", errTooDeep, maxScanDepth)
	}
	defer func() { sc.deep-- }()
	sc.i++ // [
	sc.ws()
	if sc.i < len(sc.b) && sc.b[sc.i] == ']' {
		sc.i++
		return nil
	}
	for {
		if _, err := sc.value(nil); err != nil {
			return err
		}
		sc.ws()
		if sc.i >= len(sc.b) {
			return sc.fail("unexpected end in array")
		}
		switch sc.b[sc.i] {
		case ',':
			sc.i++
		case ']':
			sc.i++
			return nil
		default:
			return sc.fail("expected ',' or ']'")
		}
	}
}

// str scans a string at sc.i (the opening quote) and reports whether it
// has escapes. Control characters must be escaped, as JSON requires.
func (sc *scanner) str() (escaped bool, err error) {
	sc.i++
	// Skip eight plain bytes at a time: no quote, backslash or control
	// character among them.
	for sc.i+8 <= len(sc.b) && plain8(binary.LittleEndian.Uint64(sc.b[sc.i:])) {
		sc.i += 8
	}
	for sc.i < len(sc.b) {
		c := sc.b[sc.i]
		switch {
		case c == '"':
			sc.i++
			return escaped, nil
		case c == '\\':
			escaped = true
			if sc.i+1 >= len(sc.b) {
				return false, sc.fail("unterminated escape")
			}
			switch sc.b[sc.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				sc.i += 2
			case 'u':
				if sc.i+6 > len(sc.b) || !isHex4(sc.b[sc.i+2:sc.i+6]) {
					return false, sc.fail("bad \\u escape")
				}
				sc.i += 6
			default:
				return false, sc.fail("bad escape")
			}
		case c < 0x20:
			return false, sc.fail("control character in string")
		default:
			sc.i++
			for sc.i+8 <= len(sc.b) && plain8(binary.LittleEndian.Uint64(sc.b[sc.i:])) {
				sc.i += 8
			}
		}
	}
	return false, sc.fail("unterminated string")
}

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// plain8 reports whether none of the eight bytes in w is '"', '\\' or a
// control character (< 0x20), with the classic bit tricks for finding a
// zero byte and a byte below a bound in a word.
func plain8(w uint64) bool {
	hasZero := func(x uint64) uint64 { return (x - ones) &^ x & highs }
	quote := hasZero(w ^ (ones * '"'))
	slash := hasZero(w ^ (ones * '\\'))
	control := (w - ones*0x20) &^ w & highs
	return quote|slash|control == 0
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func (sc *scanner) lit(word string) error {
	if len(sc.b)-sc.i < len(word) || string(sc.b[sc.i:sc.i+len(word)]) != word {
		return sc.fail("bad literal")
	}
	sc.i += len(word)
	return nil
}

// number scans a number with JSON's grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (sc *scanner) number() error {
	b, i := sc.b, sc.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case digits() == 0:
		sc.i = i
		return sc.fail("bad number")
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			sc.i = i
			return sc.fail("bad number")
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			sc.i = i
			return sc.fail("bad number")
		}
	}
	sc.i = i
	return nil
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
