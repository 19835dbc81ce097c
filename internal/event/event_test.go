package event_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/beametrics/beametrics/internal/event"
)

func parse(t *testing.T, body string, attrs map[string]string) *event.Reader {
	t.Helper()
	var r event.Reader
	if err := r.Parse([]byte(body), attrs); err != nil {
		t.Fatalf("Parse(%q): %v", body, err)
	}
	return &r
}

func TestParsePath(t *testing.T) {
	for _, tc := range []struct {
		in   string
		keys []string
		bad  bool
	}{
		{in: "user", keys: []string{"user"}},
		{in: "http.status", keys: []string{"http", "status"}},
		{in: "a.b.c.d", keys: []string{"a", "b", "c", "d"}},
		{in: "pipeline-id", keys: []string{"pipeline-id"}},
		{in: "", bad: true},
		{in: ".a", bad: true},
		{in: "a.", bad: true},
		{in: "a..b", bad: true},
	} {
		p, err := event.ParsePath(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("ParsePath(%q) = %v, want an error", tc.in, p.Keys())
			}
			continue
		}
		if err != nil {
			t.Errorf("ParsePath(%q): %v", tc.in, err)
			continue
		}
		if strings.Join(p.Keys(), "|") != strings.Join(tc.keys, "|") || p.String() != tc.in {
			t.Errorf("ParsePath(%q) = %q (%s), want %q", tc.in, p.Keys(), p.String(), tc.keys)
		}
	}
}

func TestLookupKinds(t *testing.T) {
	r := parse(t, `{"s":"x","n":500.0,"i":-3,"t":true,"f":false,"z":null,"o":{"a":1},"a":[1,2],
		"http":{"status":503,"deep":{"er":"yes"}}}`, nil)
	for _, tc := range []struct {
		path string
		kind event.Kind
	}{
		{"s", event.String}, {"n", event.Number}, {"i", event.Number}, {"t", event.Bool}, {"f", event.Bool},
		{"z", event.Null}, {"o", event.Object}, {"a", event.Array}, {"http.status", event.Number},
		{"http.deep.er", event.String}, {"nope", event.Missing}, {"http.nope", event.Missing},
		{"s.below", event.Missing}, {"http.status.x", event.Missing},
	} {
		p := event.MustParsePath(tc.path)
		if got := r.Lookup(&p).Kind(); got != tc.kind {
			t.Errorf("Lookup(%s).Kind() = %v, want %v", tc.path, got, tc.kind)
		}
	}
	p := event.MustParsePath("http.status")
	if f, ok := r.Lookup(&p).Num(); !ok || f != 503 {
		t.Errorf("http.status = %v, %v; want 503", f, ok)
	}
	p = event.MustParsePath("f")
	if b, ok := r.Lookup(&p).Bool(); !ok || b {
		t.Errorf("f = %v, %v; want false", b, ok)
	}
	p = event.MustParsePath("s")
	if _, ok := r.Lookup(&p).Num(); ok {
		t.Error("a string reads as a number with Num")
	}
}

func TestAttributes(t *testing.T) {
	body := `{"attributes":{"env":"from-body","only-body":"b"},"x":1}`
	for _, tc := range []struct {
		name  string
		attrs map[string]string
		path  string
		want  string
		kind  event.Kind
	}{
		{"attribute wins", map[string]string{"env": "blue"}, "attributes.env", "blue", event.String},
		{"falls back to the body", map[string]string{"env": "blue"}, "attributes.only-body", "b", event.String},
		{"no attributes at all", nil, "attributes.env", "from-body", event.String},
		{"missing everywhere", map[string]string{"env": "blue"}, "attributes.none", "", event.Missing},
		{"dotted attribute name", map[string]string{"a.b": "dot"}, "attributes.a.b", "dot", event.String},
		{"body field is not an attribute", map[string]string{"x": "attr"}, "x", "1", event.Number},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := parse(t, body, tc.attrs)
			p := event.MustParsePath(tc.path)
			v := r.Lookup(&p)
			if v.Kind() != tc.kind || string(v.AppendLabel(nil)) != tc.want {
				t.Errorf("Lookup(%s) = %v %q, want %v %q", tc.path, v.Kind(), v.AppendLabel(nil), tc.kind, tc.want)
			}
		})
	}
}

func TestNumeric(t *testing.T) {
	for _, tc := range []struct {
		json string
		want float64
		ok   bool
	}{
		{`12`, 12, true},
		{`12.5`, 12.5, true},
		{`-0.25`, -0.25, true},
		{`1e3`, 1000, true},
		{`"12.5"`, 12.5, true},
		{`"-7"`, -7, true},
		{`"1e3"`, 1000, true},
		{`""`, 0, false},
		{`"lots"`, 0, false},
		{`"12.5 ms"`, 0, false},
		{`" 12"`, 0, false},
		{`true`, 0, false},
		{`null`, 0, false},
		{`{"a":1}`, 0, false},
		{`[1]`, 0, false},
	} {
		r := parse(t, `{"v":`+tc.json+`}`, nil)
		p := event.MustParsePath("v")
		f, ok := r.Lookup(&p).Numeric()
		if ok != tc.ok || (ok && f != tc.want) {
			t.Errorf("Numeric(%s) = %v, %v; want %v, %v", tc.json, f, ok, tc.want, tc.ok)
		}
	}
	// A missing field is not numeric either.
	r := parse(t, `{}`, nil)
	p := event.MustParsePath("v")
	if _, ok := r.Lookup(&p).Numeric(); ok {
		t.Error("a missing field is numeric")
	}
	// Attribute strings holding numbers are numeric.
	r = parse(t, `{}`, map[string]string{"n": "38.19"})
	p = event.MustParsePath("attributes.n")
	if f, ok := r.Lookup(&p).Numeric(); !ok || f != 38.19 {
		t.Errorf("attribute \"38.19\" = %v, %v", f, ok)
	}
}

func TestAppendLabel(t *testing.T) {
	for _, tc := range []struct {
		json string
		want string
	}{
		{`"GET"`, "GET"},
		{`""`, ""},
		{`"500"`, "500"},
		{`"with \"quotes\" and \u00e9"`, `with "quotes" and é`},
		{`500`, "500"},
		{`500.0`, "500"},
		{`5e2`, "500"},
		{`-3`, "-3"},
		{`0`, "0"},
		{`-0.0`, "0"},
		{`38.19`, "38.19"},
		{`0.1`, "0.1"},
		{`1.5e-7`, "0.00000015"},
		{`12345678901234567`, "12345678901234568"},
		{`true`, "true"},
		{`false`, "false"},
		{`null`, ""},
		{`{"b": 2, "a": [1, "x"]}`, `{"b":2,"a":[1,"x"]}`},
		{`[ 1 , 2.5 , "s" , null ]`, `[1,2.5,"s",null]`},
		{`{}`, `{}`},
		{`[]`, `[]`},
	} {
		r := parse(t, `{"v":`+tc.json+`}`, nil)
		p := event.MustParsePath("v")
		if got := string(r.Lookup(&p).AppendLabel([]byte("pre:"))); got != "pre:"+tc.want {
			t.Errorf("AppendLabel(%s) = %q, want %q", tc.json, got, "pre:"+tc.want)
		}
	}
	r := parse(t, `{}`, nil)
	p := event.MustParsePath("v")
	if got := string(r.Lookup(&p).AppendLabel(nil)); got != "" {
		t.Errorf("AppendLabel(missing) = %q, want \"\"", got)
	}
}

func TestAppendNumber(t *testing.T) {
	for _, tc := range []struct {
		f    float64
		want string
	}{
		{500, "500"}, {-1, "-1"}, {38.19, "38.19"}, {1e17, "100000000000000000"},
		{1e20, "100000000000000000000"}, {0.5, "0.5"}, {-2.25, "-2.25"},
	} {
		if got := string(event.AppendNumber(nil, tc.f)); got != tc.want {
			t.Errorf("AppendNumber(%v) = %q, want %q", tc.f, got, tc.want)
		}
	}
}

func TestParseRefusals(t *testing.T) {
	deep := strings.Repeat("[", 100000)
	deepObj := `{"a":` + strings.Repeat(`{"a":`, 100000) + "1" + strings.Repeat("}", 100001)
	for _, tc := range []struct {
		name, body, reason string
	}{
		{"empty", "", event.ReasonInvalidJSON},
		{"blank", "  \n", event.ReasonInvalidJSON},
		{"not json", "not json", event.ReasonInvalidJSON},
		{"truncated", `{"a":`, event.ReasonInvalidJSON},
		{"trailing garbage", `{"a":1} x`, event.ReasonInvalidJSON},
		{"array", `[1,2]`, event.ReasonNotObject},
		{"string", `"hello"`, event.ReasonNotObject},
		{"number", `42`, event.ReasonNotObject},
		{"null", `null`, event.ReasonNotObject},
		{"invalid utf-8", "{\"a\":\"\xff\xfe\"}", event.ReasonInvalidUTF8},
		{"oversize", `{"a":"` + strings.Repeat("x", 10<<20) + `"}`, event.ReasonOversize},
		{"deep arrays", deep, event.ReasonTooDeep},
		{"deep objects", deepObj, event.ReasonTooDeep},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r event.Reader
			err := r.Parse([]byte(tc.body), nil)
			if err == nil {
				t.Fatal("Parse accepted the record")
			}
			if got := event.Reason(err); got != tc.reason {
				t.Errorf("reason %q (%v), want %q", got, err, tc.reason)
			}
			var re *event.RefusedError
			if !errors.As(err, &re) || !strings.HasPrefix(err.Error(), tc.reason) {
				t.Errorf("error %q is not a RefusedError starting with its reason", err)
			}
			// A refused record leaves nothing behind from an earlier event.
			p := event.MustParsePath("a")
			if k := r.Lookup(&p).Kind(); k != event.Missing {
				t.Errorf("after a refusal, Lookup gives %v", k)
			}
		})
	}
	if event.Reason(errors.New("other")) != "" {
		t.Error("Reason of a plain error is not empty")
	}
}

func TestParseLimits(t *testing.T) {
	var r event.Reader
	// Exactly MaxSize bytes is accepted.
	pad := event.MaxSize - len(`{"a":""}`)
	body := []byte(`{"a":"` + strings.Repeat("x", pad) + `"}`)
	if len(body) != event.MaxSize {
		t.Fatalf("test body is %d bytes", len(body))
	}
	if err := r.Parse(body, nil); err != nil {
		t.Errorf("a body of exactly MaxSize: %v", err)
	}
	body = append(body[:len(body)-2], `x"}`...)
	if err := r.Parse(body, nil); event.Reason(err) != event.ReasonOversize {
		t.Errorf("a body of MaxSize+1: %v, want oversize", err)
	}
	// Moderate nesting is fine.
	nested := strings.Repeat(`{"a":`, 100) + "7" + strings.Repeat("}", 100)
	if err := r.Parse([]byte(nested), nil); err != nil {
		t.Errorf("100 levels of nesting: %v", err)
	}
}

func TestReaderReuse(t *testing.T) {
	var r event.Reader
	p := event.MustParsePath("a")
	if err := r.Parse([]byte(`{"a":"first"}`), map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	if err := r.Parse([]byte(`{"b":1}`), nil); err != nil {
		t.Fatal(err)
	}
	if k := r.Lookup(&p).Kind(); k != event.Missing {
		t.Errorf("a field of the previous event is still visible: %v", k)
	}
	if r.Attributes() != nil {
		t.Error("attributes of the previous event are still visible")
	}
}

func TestMap(t *testing.T) {
	r := parse(t, `{"user":"u","http":{"status":500},"tags":["a",1,true,null],"attributes":{"b":"body"}}`,
		map[string]string{"env": "prod"})
	m := r.Map()
	if m["user"] != "u" {
		t.Errorf("user = %#v", m["user"])
	}
	if h, _ := m["http"].(map[string]any); h["status"] != float64(500) {
		t.Errorf("http = %#v", m["http"])
	}
	tags, _ := m["tags"].([]any)
	if len(tags) != 4 || tags[0] != "a" || tags[1] != float64(1) || tags[2] != true || tags[3] != nil {
		t.Errorf("tags = %#v", m["tags"])
	}
	a, _ := m["attributes"].(map[string]any)
	if a["env"] != "prod" || a["b"] != "body" {
		t.Errorf("attributes = %#v, want env from the message and b from the body", m["attributes"])
	}
}

func TestStrDoesNotAllocate(t *testing.T) {
	r := parse(t, `{"s":"hello","n":12.5,"o":{"a":1}}`, map[string]string{"x": "y"})
	ps, pn, pa := event.MustParsePath("s"), event.MustParsePath("n"), event.MustParsePath("attributes.x")
	buf := make([]byte, 0, 64)
	allocs := testing.AllocsPerRun(100, func() {
		buf = r.Lookup(&ps).AppendLabel(buf[:0])
		buf = r.Lookup(&pn).AppendLabel(buf)
		if !bytes.Equal(r.Lookup(&pa).Str(), []byte("y")) {
			t.Fatal("attribute")
		}
	})
	if allocs != 0 {
		t.Errorf("Lookup+AppendLabel allocates %v times per run", allocs)
	}
}

// Strings that strconv reads as special floats are not the numeric strings
// the issue means ("12.5"); accepting them turns a window's sum into NaN or
// Inf for good.
func TestNumericRefusesNonFinite(t *testing.T) {
	for _, s := range []string{`"NaN"`, `"nan"`, `"Inf"`, `"-Infinity"`, `"+inf"`, `"1e400"`, `1e400`} {
		r := parse(t, `{"v":`+s+`}`, nil)
		p := event.MustParsePath("v")
		if f, ok := r.Lookup(&p).Numeric(); ok {
			t.Errorf("Numeric(%s) = %v, true; want not numeric", s, f)
		}
	}
}

// With a key given twice, Lookup (the fast paths) and Map (the expression
// VM) must read the same value, or a filter's meaning depends on its form.
func TestDuplicateKeysReadAlike(t *testing.T) {
	r := parse(t, `{"a":1,"a":2,"o":{"b":"x","b":"y"}}`, nil)
	pa, pb := event.MustParsePath("a"), event.MustParsePath("o.b")
	m := r.Map()
	la, _ := r.Lookup(&pa).Num()
	lb := string(r.Lookup(&pb).Str())
	mb, _ := m["o"].(map[string]any)
	if m["a"] != la || mb["b"] != lb {
		t.Errorf("Lookup reads a=%v o.b=%q; Map reads a=%v o.b=%v", la, lb, m["a"], mb["b"])
	}
}

// fastjson's parser is lenient: it takes some invalid JSON, among it
// numbers that read as NaN and Inf. The issue asks for invalid JSON to be
// a counted drop.
func TestParseRefusesLenientJSON(t *testing.T) {
	for _, body := range []string{
		`{"a":NaN}`, `{"a":nan}`, `{"a":inf}`, `{"a":01}`, `{"a":.5}`, `{"a":1e}`, `{"a":+1}`,
		`{"a":"\q"}`, "{\"a\":\"tab\there\"}",
	} {
		var r event.Reader
		if err := r.Parse([]byte(body), nil); event.Reason(err) != event.ReasonInvalidJSON {
			t.Errorf("Parse(%s) = %v, want invalid_json", body, err)
		}
	}
}

// The short-decimal fast path must give exactly what strconv gives.
func TestShortDecimalsExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for n := 0; n < 200000; n++ {
		intDigits, fracDigits := rng.IntN(10)+1, rng.IntN(8)
		s := strconv.FormatUint(rng.Uint64N(pow10u(intDigits)), 10)
		if fracDigits > 0 {
			f := strconv.FormatUint(rng.Uint64N(pow10u(fracDigits)), 10)
			s += "." + strings.Repeat("0", fracDigits-len(f)) + f
		}
		if rng.IntN(2) == 0 {
			s = "-" + s
		}
		want, _ := strconv.ParseFloat(s, 64)
		r := parse(t, `{"v":`+s+`,"w":"`+s+`"}`, nil)
		pv, pw := event.MustParsePath("v"), event.MustParsePath("w")
		got, ok := r.Lookup(&pv).Num()
		gotStr, okStr := r.Lookup(&pw).Numeric()
		if !ok || !okStr || math.Float64bits(got) != math.Float64bits(want) || math.Float64bits(gotStr) != math.Float64bits(want) {
			t.Fatalf("%s: read %v (%v) and %v (%v), strconv %v", s, got, ok, gotStr, okStr, want)
		}
	}
}

func pow10u(n int) uint64 {
	p := uint64(1)
	for ; n > 0; n-- {
		p *= 10
	}
	return p
}

// Keys are matched as words when short: every length up to and past eight
// bytes, near misses, and keys too close to the end of the record to load
// a word, must read as a plain map would.
func TestKeyLookupByWord(t *testing.T) {
	keys := []string{"", "a", "ab", "abc", "abcdefg", "abcdefgh", "abcdefgi", "abcdefghi", "abcdefghij", "é", "a\"b"}
	schema := event.NewSchema()
	paths := make([]event.Path, len(keys))
	for i, k := range keys {
		paths[i] = event.PathFromKeys([]string{k})
		schema.Add(&paths[i])
	}
	bodies := []string{
		`{"":0,"a":1,"ab":2,"abc":3,"abcdefg":4,"abcdefgh":5,"abcdefgi":6,"abcdefghi":7,"abcdefghij":8,"é":9,"a\"b":10}`,
		`{"abcdefgj":1,"abcdefghk":2,"b":3,"abd":4,"abcdefgH":5,"A":6}`,
		`{"ab":2}`, `{"a":1}`, `{"abcdefgh":5}`, `{"x":0,"abc":3}`, `{"\u0061b":2,"a\u0062c":3}`,
	}
	for _, body := range bodies {
		r := schema.NewReader()
		if err := r.Parse([]byte(body), nil); err != nil {
			t.Fatalf("Parse(%s): %v", body, err)
		}
		var want map[string]float64
		if err := json.Unmarshal([]byte(body), &want); err != nil {
			t.Fatal(err)
		}
		for i, k := range keys {
			got, ok := r.Lookup(&paths[i]).Num()
			w, has := want[k]
			if ok != has || got != w {
				t.Errorf("%s: key %q reads %v (%v), want %v (%v)", body, k, got, ok, w, has)
			}
		}
	}
}
