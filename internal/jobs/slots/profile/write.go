package profile

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"

	"github.com/beametrics/beametrics/internal/jobs/slots/history"
)

// writeDocFn gathers every part of the profile (one element each) into the
// document and writes it.
type writeDocFn struct {
	Out         string
	Kind        string
	CapSlots    float64
	Inputs      []string
	RunsFile    string
	BadRunsJSON string
}

func (f *writeDocFn) ProcessElement(ctx context.Context, _ int, parts func(*string) bool, loIt, hiIt func(*int64) bool) error {
	d, err := f.assemble(parts, loIt, hiIt)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(d, "", " ")
	if err != nil {
		return err
	}
	fs, err := filesystem.New(ctx, f.Out)
	if err != nil {
		return err
	}
	defer fs.Close()
	w, err := fs.OpenWrite(ctx, f.Out)
	if err != nil {
		return err
	}
	if _, err := w.Write(append(b, '\n')); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

func (f *writeDocFn) assemble(parts func(*string) bool, loIt, hiIt func(*int64) bool) (*Doc, error) {
	d := &Doc{
		Version: DocVersion, Kind: f.Kind, CapSlots: f.CapSlots, Inputs: f.Inputs, RunsFile: f.RunsFile,
		Rows: map[string]int64{}, SlotMsByMethod: map[string]int64{},
		BadRows: []history.BadRow{}, DAGs: []DAGProfile{}, OverCap: []OverCapMin{},
		History: &History{Background: []MinuteUse{}, DAGs: map[string][]MinuteUse{}},
	}
	if err := json.Unmarshal([]byte(f.BadRunsJSON), &d.BadRunRows); err != nil {
		return nil, err
	}
	if d.BadRunRows == nil {
		d.BadRunRows = []history.BadRow{}
	}
	for _, in := range f.Inputs {
		d.Rows[in] = 0
	}
	lo, okLo := single(loIt)
	hi, okHi := single(hiIt)
	if okLo && okHi {
		d.From = time.Unix(lo*60, 0).UTC()
		d.To = time.Unix(hi*60, 0).UTC()
		d.Days = int(floorDiv(hi, 1440)-floorDiv(lo, 1440)) + 1
	}
	total := make([]int64, 1440)
	background := make([]int64, 1440)
	max := make([]int64, 1440)
	var s string
	for parts(&s) {
		if s == "" {
			continue
		}
		tag, body := s[0], s[1:]
		var err error
		switch tag {
		case 'Z':
		case 'P':
			var p DAGProfile
			err = json.Unmarshal([]byte(body), &p)
			d.DAGs = append(d.DAGs, p)
		case 'O':
			var o OverCapMin
			err = json.Unmarshal([]byte(body), &o)
			d.OverCap = append(d.OverCap, o)
		case 'H':
			err = addHistory(d.History, body)
		case 'B':
			var b history.BadRow
			err = json.Unmarshal([]byte(body), &b)
			d.BadRows = append(d.BadRows, b)
		case 'S', 'X', 'C':
			k, v, _ := strings.Cut(body, "\t")
			n, perr := strconv.ParseInt(v, 10, 64)
			if perr != nil {
				return nil, fmt.Errorf("malformed part %q", s)
			}
			switch {
			case tag == 'C':
				d.Rows[k] = n
			case strings.HasPrefix(k, "a:"):
				d.SlotMsByMethod[k[2:]] = n
			default:
				mod, perr := strconv.Atoi(k[2:])
				if perr != nil || mod < 0 || mod >= 1440 {
					return nil, fmt.Errorf("malformed part %q", s)
				}
				switch k[0] {
				case 't':
					total[mod] = n
				case 'b':
					background[mod] = n
				case 'x':
					max[mod] = n
				}
			}
		default:
			return nil, fmt.Errorf("unknown part %q", s)
		}
		if err != nil {
			return nil, fmt.Errorf("part %q: %w", s, err)
		}
	}
	days := float64(d.Days)
	if days == 0 {
		days = 1 // no usage at all: every mean is 0 either way
	}
	d.MinuteOfDay = make([]MinuteStats, 1440)
	for m := range d.MinuteOfDay {
		d.MinuteOfDay[m] = MinuteStats{
			Minute:              m,
			MeanSlots:           round3(float64(total[m]) / 60000 / days),
			MaxSlots:            round3(float64(max[m]) / 60000),
			MeanBackgroundSlots: round3(float64(background[m]) / 60000 / days),
		}
	}
	sort.Slice(d.DAGs, func(i, j int) bool { return d.DAGs[i].DAG < d.DAGs[j].DAG })
	sort.Slice(d.OverCap, func(i, j int) bool { return d.OverCap[i].At.Before(d.OverCap[j].At) })
	sortUse(d.History.Background)
	for _, u := range d.History.DAGs {
		sortUse(u)
	}
	sort.Slice(d.BadRows, func(i, j int) bool {
		a, b := d.BadRows[i], d.BadRows[j]
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Line < b.Line
	})
	return d, nil
}

// addHistory reads one "dag \t minute \t ms" part (dag empty for the
// background).
func addHistory(h *History, body string) error {
	parts := strings.Split(body, "\t")
	if len(parts) != 3 {
		return fmt.Errorf("want dag, minute and slot-ms")
	}
	minute, err1 := strconv.ParseInt(parts[1], 10, 64)
	ms, err2 := strconv.ParseInt(parts[2], 10, 64)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("minute or slot-ms is not a number")
	}
	u := MinuteUse{minute, ms}
	if parts[0] == "" {
		h.Background = append(h.Background, u)
	} else {
		h.DAGs[parts[0]] = append(h.DAGs[parts[0]], u)
	}
	return nil
}

func sortUse(u []MinuteUse) { sort.Slice(u, func(i, j int) bool { return u[i][0] < u[j][0] }) }

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
