package jobcli

import (
	"bytes"
	"fmt"
	"io"
	"reflect"
	"testing"
)

type report struct {
	N int `json:"n"`
}

var formats = Formats[report]{
	{"text", func(w io.Writer, r report) error { _, err := fmt.Fprintf(w, "n=%d\n", r.N); return err }},
	JSON[report](),
}

func TestFormats(t *testing.T) {
	if got := formats.Names(); !reflect.DeepEqual(got, []string{"text", "json"}) {
		t.Errorf("Names = %q", got)
	}
	for name, want := range map[string]string{"text": "n=3\n", "json": "{\n  \"n\": 3\n}\n"} {
		var b bytes.Buffer
		if err := formats.Check(name); err != nil {
			t.Errorf("Check(%s): %v", name, err)
		}
		if err := formats.Write(&b, report{3}, name); err != nil || b.String() != want {
			t.Errorf("Write(%s) = %q, %v; want %q", name, b.String(), err, want)
		}
	}
	const want = `unknown --format "yaml" (want one of text, json)`
	if err := formats.Check("yaml"); err == nil || err.Error() != want {
		t.Errorf("Check(yaml) = %v, want %s", err, want)
	}
	var b bytes.Buffer
	if err := formats.Write(&b, report{3}, "yaml"); err == nil || b.Len() != 0 {
		t.Errorf("Write(yaml) = %v, wrote %q; want an error and nothing written", err, b.String())
	}
}
