// Package constraints reads the YAML file that limits where `slots plan`
// may move each DAG.
//
//	dags:
//	  sales_daily:
//	    earliest_start: "01:00"   # cron time may not be earlier (UTC)
//	    must_finish_by: "06:00"   # start delay + p90 duration must end by then
//	    after: [raw_ingest]       # start only once these have finished
//	  finance_close:
//	    fixed: true               # never move
package constraints

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// File is the whole constraints file.
type File struct {
	DAGs map[string]DAG `yaml:"dags"`
}

// DAG limits one DAG. Times are minutes of the day (UTC); -1 means unset.
type DAG struct {
	EarliestStart int
	MustFinishBy  int
	Fixed         bool
	After         []string
}

type rawDAG struct {
	EarliestStart string   `yaml:"earliest_start"`
	MustFinishBy  string   `yaml:"must_finish_by"`
	Fixed         bool     `yaml:"fixed"`
	After         []string `yaml:"after"`
}

// Read reads a constraints file.
func Read(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// Parse reads constraints from YAML. Unknown keys are errors: a misspelt
// constraint must not be ignored.
func Parse(b []byte) (*File, error) {
	var raw struct {
		DAGs map[string]rawDAG `yaml:"dags"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&raw); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	f := &File{DAGs: map[string]DAG{}}
	names := make([]string, 0, len(raw.DAGs))
	for n := range raw.DAGs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		r := raw.DAGs[name]
		d := DAG{EarliestStart: -1, MustFinishBy: -1, Fixed: r.Fixed, After: r.After}
		var err error
		if r.EarliestStart != "" {
			if d.EarliestStart, err = ParseClock(r.EarliestStart); err != nil {
				return nil, fmt.Errorf("dags.%s.earliest_start: %w", name, err)
			}
		}
		if r.MustFinishBy != "" {
			if d.MustFinishBy, err = ParseClock(r.MustFinishBy); err != nil {
				return nil, fmt.Errorf("dags.%s.must_finish_by: %w", name, err)
			}
		}
		if d.Fixed && (d.EarliestStart >= 0 || d.MustFinishBy >= 0 || len(d.After) > 0) {
			return nil, fmt.Errorf("dags.%s: a fixed DAG takes no window or dependencies", name)
		}
		for _, a := range d.After {
			if a == name {
				return nil, fmt.Errorf("dags.%s.after: a DAG cannot wait for itself", name)
			}
		}
		f.DAGs[name] = d
	}
	return f, nil
}

// ParseClock reads "HH:MM" (00:00 to 24:00) as minutes of the day.
func ParseClock(s string) (int, error) {
	h, m, ok := strings.Cut(strings.TrimSpace(s), ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || len(m) != 2 || hh < 0 || mm < 0 || mm > 59 || hh > 24 || hh == 24 && mm != 0 {
		return 0, fmt.Errorf("%q is not a time of day HH:MM", s)
	}
	return hh*60 + mm, nil
}

// Clock writes minutes of the day as HH:MM.
func Clock(m int) string {
	m = ((m % 1440) + 1440) % 1440
	return fmt.Sprintf("%02d:%02d", m/60, m%60)
}
