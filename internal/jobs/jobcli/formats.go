package jobcli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Format is one way to print a job's report R.
type Format[R any] struct {
	Name  string
	Write func(io.Writer, R) error
}

// Formats are a job's output formats, in the order its usage names them.
type Formats[R any] []Format[R]

// JSON is the format every job offers: the report as indented JSON.
func JSON[R any]() Format[R] {
	return Format[R]{Name: "json", Write: func(w io.Writer, r R) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}}
}

// Names lists the formats' names.
func (fs Formats[R]) Names() []string {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.Name
	}
	return names
}

// Check tells whether name is one of the formats, so that a command can
// refuse a bad --format before it does any work.
func (fs Formats[R]) Check(name string) error {
	for _, f := range fs {
		if f.Name == name {
			return nil
		}
	}
	return fmt.Errorf("unknown --format %q (want one of %s)", name, strings.Join(fs.Names(), ", "))
}

// Write prints r to w in the format called name.
func (fs Formats[R]) Write(w io.Writer, r R, name string) error {
	for _, f := range fs {
		if f.Name == name {
			return f.Write(w, r)
		}
	}
	return fmt.Errorf("unknown format %q (want one of %s)", name, strings.Join(fs.Names(), ", "))
}
