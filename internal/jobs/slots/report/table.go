// Package report writes a slots plan for people: a Markdown table of the
// proposal and an SVG chart of slot usage over the day before and after.
package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/beametrics/beametrics/internal/jobs/slots"
)

// Table writes the plan as Markdown.
func Table(w io.Writer, p *slots.Plan) error {
	var b strings.Builder
	search := p.Method
	if p.Optimal {
		search += " (proven optimal)"
	} else {
		search += " (not proven optimal)"
	}
	fmt.Fprintf(&b, "# BigQuery slots plan\n\n")
	fmt.Fprintf(&b, "Cap: %s slots. Profile: %s of each DAG's runs. Search: %s. Times are UTC, or the DAG's time zone where one is named.\n\n", num(p.CapSlots), p.Use, search)
	fmt.Fprintf(&b, "| modelled day | before | after |\n|---|---:|---:|\n")
	fmt.Fprintf(&b, "| peak slots | %s | %s |\n", num(p.Before.PeakSlots), num(p.After.PeakSlots))
	fmt.Fprintf(&b, "| slot-minutes over cap | %s | %s |\n", num(p.Before.SlotMinutesOverCap), num(p.After.SlotMinutesOverCap))
	fmt.Fprintf(&b, "| minutes over cap | %d | %d |\n\n", p.Before.MinutesOverCap, p.After.MinutesOverCap)
	if p.Margin.Slots > 0 || p.Margin.Minutes > 0 {
		fmt.Fprintf(&b, "Margin: planned under %s slots (cap − %s) with each DAG widened by %d minutes on both sides; "+
			"after the move, %d minutes (%s slot-minutes) fall inside that margin.\n\n",
			num(p.CapSlots-p.Margin.Slots), num(p.Margin.Slots), p.Margin.Minutes, p.AfterInMargin.MinutesOverCap, num(p.AfterInMargin.SlotMinutesOverCap))
	} else {
		fmt.Fprintf(&b, "Margin: none (--margin 0): a run starting a few minutes late may land on its neighbour.\n\n")
	}
	realDays(&b, p)
	fmt.Fprintf(&b, "## Proposed schedules\n\n")
	fmt.Fprintf(&b, "| DAG | schedule now | proposed | first run | shift (min) | slot-minutes a day | note |\n|---|---|---|---|---:|---:|---|\n")
	for _, d := range p.DAGs {
		note := d.Why
		if note == "" && d.ShiftMin == 0 {
			note = "unchanged"
		}
		zone := ""
		if d.Timezone != "" {
			zone = fmt.Sprintf(" %s (UTC%s)", d.Timezone, d.UTCOffset)
		}
		fmt.Fprintf(&b, "| %s | `%s` | `%s` | %s → %s%s | %+d | %s | %s |\n",
			cell(d.DAG), d.Schedule, d.NewSchedule, d.OldTick, d.NewTick, zone, d.ShiftMin, num(d.SlotMinutes), cell(note))
	}
	if len(p.Notes) > 0 {
		fmt.Fprintf(&b, "\n## Notes\n\n")
		for _, n := range p.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// realDays writes the plan replayed on the history's real days next to the
// model, so that a user sees when the model is optimistic.
func realDays(b *strings.Builder, p *slots.Plan) {
	r := p.RealDays
	if r == nil || r.Days == 0 {
		return
	}
	fmt.Fprintf(b, "| worst real day of %d (UTC) | before | after |\n|---|---:|---:|\n", r.Days)
	fmt.Fprintf(b, "| day | %s | %s |\n", r.Before.Day, r.After.Day)
	fmt.Fprintf(b, "| peak slots | %s | %s |\n", num(r.Before.PeakSlots), num(r.After.PeakSlots))
	fmt.Fprintf(b, "| slot-minutes over cap | %s | %s |\n", num(r.Before.SlotMinutesOverCap), num(r.After.SlotMinutesOverCap))
	fmt.Fprintf(b, "| minutes over cap | %d | %d |\n", r.Before.MinutesOverCap, r.After.MinutesOverCap)
	fmt.Fprintf(b, "| days over cap | %d of %d | %d of %d |\n\n", r.Before.DaysOverCap, r.Days, r.After.DaysOverCap, r.Days)
	if r.Optimistic(p.After) {
		fmt.Fprintf(b, "**The model is optimistic**: moved the same way, %s would have been %d minutes over the cap with a peak of %s slots; "+
			"the model says %d minutes and %s. A wider --margin or the p90 profile plans for such days.\n\n",
			r.After.Day, r.After.MinutesOverCap, num(r.After.PeakSlots), p.After.MinutesOverCap, num(p.After.PeakSlots))
	} else {
		fmt.Fprintf(b, "On every real day the proposal stays within the model's figures.\n\n")
	}
}

// num prints slot figures with one decimal, the precision profiles carry.
func num(x float64) string { return fmt.Sprintf("%.1f", x) }

func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
