package jobcli

import (
	"errors"
	"flag"
	"io"
	"reflect"
	"testing"
)

func TestParseInterspersed(t *testing.T) {
	for _, tc := range []struct {
		args       []string
		positional []string
		strict     bool
		format     string
	}{
		{args: nil, positional: nil},
		{args: []string{"a.jsonl"}, positional: []string{"a.jsonl"}},
		{args: []string{"a", "--strict", "b", "--format", "json"}, positional: []string{"a", "b"}, strict: true, format: "json"},
		{args: []string{"--format=csv", "a", "b"}, positional: []string{"a", "b"}, format: "csv"},
		// "-" is stdin, not a flag; after "--" a flag-like word is a file.
		{args: []string{"-", "--", "--strict"}, positional: []string{"-", "--strict"}},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		strict := fs.Bool("strict", false, "")
		format := fs.String("format", "", "")
		got, err := ParseInterspersed(fs, tc.args)
		if err != nil || !reflect.DeepEqual(got, tc.positional) || *strict != tc.strict || *format != tc.format {
			t.Errorf("%q: got %q, strict %v, format %q, err %v; want %q, strict %v, format %q",
				tc.args, got, *strict, *format, err, tc.positional, tc.strict, tc.format)
		}
	}
}

func TestParseInterspersedErrors(t *testing.T) {
	for name, args := range map[string][]string{"help": {"a", "-h"}, "unknown flag": {"a", "--nope"}} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		got, err := ParseInterspersed(fs, args)
		if err == nil || got != nil {
			t.Errorf("%s: got %q, err %v; want an error", name, got, err)
		}
		if isHelp := errors.Is(err, flag.ErrHelp); isHelp != (name == "help") {
			t.Errorf("%s: errors.Is(err, flag.ErrHelp) = %v", name, isHelp)
		}
	}
}
