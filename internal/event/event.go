// Package event gives fast, allocation-free access to one structured log
// record: its JSON body and, for Pub/Sub messages, its attributes.
//
// A Reader is reused for many events and is not safe for concurrent use;
// every Value it returns is valid until the next call to Reader.Parse.
package event

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/valyala/fastjson"
	"github.com/valyala/fastjson/fastfloat"
)

// MaxSize is the largest event body accepted, in bytes. Larger records are
// refused rather than parsed, so one huge line cannot stall a worker.
const MaxSize = 1 << 20

// Reasons a record is refused. They name dead letters and counters, so they
// are stable identifiers.
const (
	ReasonInvalidJSON = "invalid_json"
	ReasonNotObject   = "not_an_object"
	ReasonInvalidUTF8 = "invalid_utf8"
	ReasonOversize    = "oversize"
	ReasonTooDeep     = "too_deep"
)

// RefusedError says why a record could not be read as an event.
type RefusedError struct {
	Reason string // one of the Reason constants
	Detail string
}

func (e *RefusedError) Error() string {
	if e.Detail == "" {
		return e.Reason
	}
	return e.Reason + ": " + e.Detail
}

// Reason returns the refusal reason of err, or "" if err is not a refusal.
func Reason(err error) string {
	var r *RefusedError
	if errors.As(err, &r) {
		return r.Reason
	}
	return ""
}

// Reader parses events. The zero value is ready to use.
type Reader struct {
	parser fastjson.Parser
	root   *fastjson.Value
	attrs  map[string]string

	// With a schema, Parse projects the event onto the schema's paths and
	// builds the full tree only if something asks for a path outside it.
	schema *Schema
	slots  []slotValue
	gen    uint32
	body   []byte
	tree   bool // root holds the tree of body
}

// Parse reads one event. attrs are the message attributes (may be nil); the
// map is read, never modified or kept past the next Parse.
func (r *Reader) Parse(body []byte, attrs map[string]string) error {
	r.root, r.attrs, r.body, r.tree = nil, nil, nil, false
	if len(body) > MaxSize {
		return &RefusedError{Reason: ReasonOversize, Detail: fmt.Sprintf("%d bytes, limit %d", len(body), MaxSize)}
	}
	if r.schema == nil {
		// A Reader without a schema still validates in one pass, then
		// builds the whole tree when a field is first read.
		r.schema = emptySchema
	}
	r.gen++
	if err := r.project(body); err != nil {
		return err
	}
	r.body, r.attrs = body, attrs
	return nil
}

var emptySchema = NewSchema()

// ensureTree parses the whole body for lookups outside the schema. The
// body was validated already, so this cannot fail in practice.
func (r *Reader) ensureTree() {
	if r.tree || r.body == nil {
		return
	}
	r.tree = true
	if v, err := r.parser.ParseBytes(r.body); err == nil {
		r.root = v
	}
}

// Path is a compiled field path: a dot path into nested objects, such as
// "http.status". A path whose first element is "attributes" reads the
// message attribute named by the rest ("attributes.pipeline-env"), and falls
// back to the body when the message has no such attribute, so archived
// messages that stored attributes in the body replay the same way.
type Path struct {
	raw  string
	keys []string
	attr string // attribute name when keys[0] == "attributes", else ""

	schema *byte // the Schema that slot belongs to
	slot   int
}

// ParsePath compiles a dot path. Empty elements ("a..b", ".a") are errors.
func ParsePath(s string) (Path, error) {
	if s == "" {
		return Path{}, errors.New("empty field path")
	}
	keys := strings.Split(s, ".")
	for _, k := range keys {
		if k == "" {
			return Path{}, fmt.Errorf("field path %q has an empty element", s)
		}
	}
	p := Path{raw: s, keys: keys}
	if len(keys) > 1 && keys[0] == "attributes" {
		p.attr = strings.Join(keys[1:], ".")
	}
	return p, nil
}

func (p Path) String() string { return p.raw }

// Keys returns the path's elements.
func (p Path) Keys() []string { return p.keys }

// Lookup returns the value at p, or a Missing value.
func (r *Reader) Lookup(p *Path) Value {
	if p.attr != "" && r.attrs != nil {
		if s, ok := r.attrs[p.attr]; ok {
			return Value{kind: String, str: s}
		}
	}
	if r.schema != nil && p.schema == r.schema.id {
		s := &r.slots[p.slot]
		if s.gen != r.gen || r.body == nil {
			return Value{}
		}
		return Value{kind: s.kind, slot: s}
	}
	r.ensureTree()
	if r.root == nil {
		return Value{}
	}
	v := r.root.Get(p.keys...)
	if v == nil {
		return Value{}
	}
	return fromJSON(v)
}

// Root returns the parsed body, valid until the next Parse.
func (r *Reader) Root() *fastjson.Value {
	r.ensureTree()
	return r.root
}

// Attributes returns the message attributes of the current event.
func (r *Reader) Attributes() map[string]string { return r.attrs }

// Kind is the JSON type of a Value.
type Kind uint8

const (
	Missing Kind = iota
	Null
	String
	Number
	Bool
	Object
	Array
)

func (k Kind) String() string {
	return [...]string{"missing", "null", "string", "number", "bool", "object", "array"}[k]
}

// Value is one field of an event.
type Value struct {
	kind Kind
	str  string // attribute value (for attribute strings)
	json *fastjson.Value
	slot *slotValue // a projected value
}

// raw returns the text of a projected value.
func (v Value) raw() []byte { return v.slot.reader.body[v.slot.start:v.slot.end] }

func fromJSON(v *fastjson.Value) Value {
	var k Kind
	switch v.Type() {
	case fastjson.TypeNull:
		k = Null
	case fastjson.TypeString:
		k = String
	case fastjson.TypeNumber:
		k = Number
	case fastjson.TypeTrue, fastjson.TypeFalse:
		k = Bool
	case fastjson.TypeObject:
		k = Object
	case fastjson.TypeArray:
		k = Array
	}
	return Value{kind: k, json: v}
}

// Kind returns the value's type.
func (v Value) Kind() Kind { return v.kind }

// Str returns the text of a String value. It does not allocate: the bytes
// belong to the Reader.
func (v Value) Str() []byte {
	if v.kind != String {
		return nil
	}
	if s := v.slot; s != nil {
		if !s.escaped {
			return v.raw()
		}
		if !s.unescaped {
			s.str, s.unescaped = unescape(s.str[:0], v.raw()), true
		}
		return s.str
	}
	if v.json == nil {
		return unsafeBytes(v.str)
	}
	b, _ := v.json.StringBytes()
	return b
}

// Num returns a Number value as float64. ok is false for other kinds.
func (v Value) Num() (f float64, ok bool) {
	if v.kind != Number {
		return 0, false
	}
	if s := v.slot; s != nil {
		if s.numOK == 0 {
			s.num, s.numOK = parseFinite(v.raw())
		}
		return s.num, s.numOK > 0
	}
	f, err := v.json.Float64()
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}

// parseFinite parses a JSON number; numbers beyond float64's range are
// not usable values.
func parseFinite(b []byte) (float64, int8) {
	if f, ok := parseShortDecimal(b); ok {
		return f, 1
	}
	// fastfloat is several times faster than strconv on log-sized
	// numbers; the scanner has already checked the JSON number syntax.
	f, err := fastfloat.Parse(unsafeString(b))
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, -1
	}
	return f, 1
}

// exactPow10 holds the powers of ten that float64 represents exactly.
var exactPow10 = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15}

// parseShortDecimal reads the numbers logs are mostly made of, -?D+(.D+)?
// with at most 15 digits, exactly: the digits fit float64's mantissa and
// the power of ten is exact, so one division rounds correctly (Clinger's
// fast path). Anything else (exponents, longer numbers) is left to the
// general parser.
func parseShortDecimal(b []byte) (float64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 16 {
		return 0, false
	}
	var mant uint64
	digits, fraction, dot := 0, 0, false
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			mant = mant*10 + uint64(c-'0')
			digits++
			if dot {
				fraction++
			}
		case c == '.' && !dot:
			dot = true
		default:
			return 0, false
		}
	}
	if digits == 0 || digits > 15 || (dot && fraction == 0) {
		return 0, false
	}
	f := float64(mant) / exactPow10[fraction]
	if neg {
		f = -f
	}
	return f, true
}

// isJSONNumber reports whether b is exactly one number in JSON's grammar,
// which is what a numeric string must hold ("12.5", not "NaN" or "0x10").
func isJSONNumber(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	i, err := scanNumber(b, 0)
	return err == nil && i == len(b)
}

// Numeric returns the value as a number, accepting numbers and strings that
// hold a number ("12.5"). It is how sum, min, max, mean and distribution read
// their field.
func (v Value) Numeric() (float64, bool) {
	switch v.kind {
	case Number:
		return v.Num()
	case String:
		s := v.Str()
		if len(s) > 64 || !isJSONNumber(s) {
			return 0, false
		}
		f, ok := parseFinite(s)
		return f, ok > 0
	}
	return 0, false
}

// Bool returns a Bool value. ok is false for other kinds.
func (v Value) Bool() (b bool, ok bool) {
	if v.kind != Bool {
		return false, false
	}
	if v.slot != nil {
		return v.raw()[0] == 't', true
	}
	return v.json.Type() == fastjson.TypeTrue, true
}

// Array returns the elements of an Array value.
func (v Value) Array() []*fastjson.Value {
	if v.kind != Array {
		return nil
	}
	j := v.tree()
	if j == nil {
		return nil
	}
	a, _ := j.Array()
	return a
}

// AppendLabel appends the value formatted as a label value: strings as they
// are; whole numbers as integers ("500", not "500.0"); other numbers in
// shortest form ("38.19"); bools as "true"/"false"; missing or null as "";
// objects and arrays as compact JSON.
func (v Value) AppendLabel(dst []byte) []byte {
	switch v.kind {
	case String:
		return append(dst, v.Str()...)
	case Number:
		f, ok := v.Num()
		if !ok {
			return dst
		}
		return AppendNumber(dst, f)
	case Bool:
		b, _ := v.Bool()
		return strconv.AppendBool(dst, b)
	case Object, Array:
		if j := v.tree(); j != nil {
			return j.MarshalTo(dst)
		}
	}
	return dst
}

// tree returns the fastjson form of an object or array value, parsing a
// projected one on demand (rare: labels and filters seldom take objects).
func (v Value) tree() *fastjson.Value {
	if v.slot == nil {
		return v.json
	}
	j, err := fastjson.ParseBytes(v.raw())
	if err != nil {
		return nil
	}
	return j
}

// AppendNumber formats f as a label value: integers without a fraction,
// other numbers in their shortest exact form.
func AppendNumber(dst []byte, f float64) []byte {
	if f == float64(int64(f)) && f > -1e18 && f < 1e18 {
		return strconv.AppendInt(dst, int64(f), 10)
	}
	return strconv.AppendFloat(dst, f, 'f', -1, 64)
}

// Any converts the value to plain Go values (string, float64, bool, nil,
// map[string]any, []any). It allocates; the fast paths never call it.
func (v Value) Any() any {
	switch v.kind {
	case String:
		return string(v.Str())
	case Number:
		f, _ := v.Num()
		return f
	case Bool:
		b, _ := v.Bool()
		return b
	case Object:
		o, _ := v.tree().Object()
		m := make(map[string]any, o.Len())
		o.Visit(func(k []byte, e *fastjson.Value) {
			// The first of duplicate keys wins, as in Lookup.
			if _, dup := m[string(k)]; !dup {
				m[string(k)] = fromJSON(e).Any()
			}
		})
		return m
	case Array:
		a, _ := v.tree().Array()
		s := make([]any, len(a))
		for i, e := range a {
			s[i] = fromJSON(e).Any()
		}
		return s
	}
	return nil
}

// PathFromKeys builds a path from its elements, which may contain dots
// (expression filters write attributes["a.b"]).
func PathFromKeys(keys []string) Path {
	p := Path{raw: strings.Join(keys, "."), keys: keys}
	if len(keys) > 1 && keys[0] == "attributes" {
		p.attr = strings.Join(keys[1:], ".")
	}
	return p
}

// Map converts the whole event, attributes included under "attributes", to
// plain Go values for general-purpose evaluators. It allocates.
func (r *Reader) Map() map[string]any {
	m := map[string]any{}
	r.ensureTree()
	if r.root != nil {
		if o, ok := fromJSON(r.root).Any().(map[string]any); ok {
			m = o
		}
	}
	if len(r.attrs) > 0 {
		a, _ := m["attributes"].(map[string]any)
		if a == nil {
			a = make(map[string]any, len(r.attrs))
		}
		for k, v := range r.attrs {
			a[k] = v
		}
		m["attributes"] = a
	}
	return m
}
