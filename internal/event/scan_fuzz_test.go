package event_test

import (
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/beametrics/beametrics/internal/event"
)

var loneSurrogate = regexp.MustCompile(`(?i)\\ud[89a-f]`)

// depthOf returns the deepest nesting of objects and arrays in valid JSON.
func depthOf(b []byte) int {
	depth, deepest, inString := 0, 0, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case inString:
		case c == '{' || c == '[':
			depth++
			deepest = max(deepest, depth)
		case c == '}' || c == ']':
			depth--
		}
	}
	return deepest
}

// FuzzScanAgreesWithEncodingJSON: the projecting scanner accepts exactly
// what encoding/json calls valid (when it is valid UTF-8, an object, and
// not too deep), and reads the same values as the full fastjson tree.
func FuzzScanAgreesWithEncodingJSON(f *testing.F) {
	for _, s := range []string{
		`{"a":"x","b":{"c":12.5e3},"e":[1,"\u00e9",{"f":null}]}`,
		` { "a" : true , "b" : { "c" : -0.5 } } `,
		`{"a":"tab\there"}`, `{"a":"esc\"aped\\"}`, `{"a\u0062":1,"a":2}`,
		`{"a":01}`, `{"a":1.}`, `{"a":-}`, `{"a":1e+}`, `{"a":tru}`, `{"a":nul}`,
		`{"b":{"c":"` + strings.Repeat("long string ", 10) + `"}}`,
		`{"a":"\ud83d\ude00"}`, "{\"a\":\"\xff\"}", "{\"a\":1}\xff", "[\"\xed\xa0\x80\"]", "{\"\xc3\":1}", "{\"a\":\"é日本\"}", `{"a":"\x"}`, `{"a":"\u12"}`, `{"a":1}x`, `{"a":1,}`, `{,}`,
		`[1]`, `"s"`, `7`, ``, ` `, "{\"a\":\"\x01\"}", `{"a":"12345678"}`, `{"a":"1234567"}`,
		strings.Repeat(`{"a":`, 199) + "1" + strings.Repeat("}", 199),
		strings.Repeat(`{"a":`, 201) + "1" + strings.Repeat("}", 201),
	} {
		f.Add([]byte(s))
	}
	schema := event.NewSchema()
	paths := []event.Path{event.MustParsePath("a"), event.MustParsePath("b.c"), event.MustParsePath("e"), event.MustParsePath("ab")}
	for i := range paths {
		schema.Add(&paths[i])
	}
	projecting := schema.NewReader()
	var full event.Reader
	f.Fuzz(func(t *testing.T, body []byte) {
		err := projecting.Parse(body, nil)
		trimmed := strings.TrimLeft(string(body), " \t\r\n")
		want := utf8.Valid(body) && json.Valid(body) && strings.HasPrefix(trimmed, "{") && depthOf(body) <= 200
		if (err == nil) != want {
			t.Fatalf("Parse(%q) = %v; encoding/json says acceptable = %v", body, err, want)
		}
		if err != nil {
			if !utf8.Valid(body) && event.Reason(err) != event.ReasonInvalidUTF8 {
				t.Fatalf("Parse(%q) = %v; want reason %s", body, err, event.ReasonInvalidUTF8)
			}
			return
		}
		if err := full.Parse(body, nil); err != nil {
			t.Fatalf("the plain reader refused what the projecting one took: %v", err)
		}
		if loneSurrogate.Match(body) {
			// Known difference: the projection reads a lone surrogate
			// escape as U+FFFD (like encoding/json), fastjson's tree
			// keeps the escape's text.
			return
		}
		for i := range paths {
			p := event.PathFromKeys(paths[i].Keys()) // not in the schema: read from the tree
			got, tree := projecting.Lookup(&paths[i]), full.Lookup(&p)
			if got.Kind() != tree.Kind() || !reflect.DeepEqual(got.Any(), tree.Any()) {
				t.Fatalf("%s in %q: projected %v %#v, tree %v %#v", paths[i].String(), body, got.Kind(), got.Any(), tree.Kind(), tree.Any())
			}
		}
	})
}
