package report

import (
	"fmt"
	"html"
	"io"
	"math"
	"sort"
	"strings"

	"github.com/beametrics/beametrics/internal/jobs/slots"
)

// Chart geometry, in SVG user units.
const (
	width      = 1000
	plotLeft   = 70
	plotRight  = 970
	panelH     = 300
	plotTop    = 40 // inside a panel
	plotBottom = 260
	maxNamed   = 8 // DAGs drawn in their own colour; the rest are "other DAGs"
)

// palette: colour-blind-safe hues for the named DAGs.
var palette = []string{"#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#7f3c8d"}

const (
	backgroundColour = "#bdbdbd"
	otherColour      = "#8c8c8c"
	capColour        = "#c00000"
)

type series struct {
	name   string
	colour string
	slots  []float64
}

// Chart writes an SVG of the modelled slot usage over the day, stacked by
// DAG, before and after the plan, with the cap as a dashed line.
func Chart(w io.Writer, p *slots.Plan) error {
	before, after := group(p, p.BeforeLayers), group(p, p.AfterLayers)
	top := math.Max(p.CapSlots, math.Max(p.Before.PeakSlots, p.After.PeakSlots))
	yMax, step := niceScale(top * 1.05)
	legendRows := (len(before) + 2) / 3
	height := 2*panelH + 30 + 22*legendRows

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	panel(&b, 0, fmt.Sprintf("Before: peak %s slots, %s slot-minutes over the cap in %d minutes",
		num(p.Before.PeakSlots), num(p.Before.SlotMinutesOverCap), p.Before.MinutesOverCap), before, p.CapSlots, yMax, step)
	panel(&b, panelH, fmt.Sprintf("After: peak %s slots, %s slot-minutes over the cap in %d minutes",
		num(p.After.PeakSlots), num(p.After.SlotMinutesOverCap), p.After.MinutesOverCap), after, p.CapSlots, yMax, step)
	legend(&b, 2*panelH+10, before)
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// group keeps the heaviest DAGs as their own layers and sums the rest, so
// that the colours stay few enough to tell apart. The order is the same
// before and after, by name of the plan's DAGs.
func group(p *slots.Plan, layers []slots.Layer) []series {
	if len(layers) == 0 {
		return nil
	}
	out := []series{{name: "background (no DAG profile)", colour: backgroundColour, slots: layers[0].Slots}}
	dags := layers[1:]
	idx := make([]int, len(dags))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		return p.DAGs[idx[a]].SlotMinutes > p.DAGs[idx[b]].SlotMinutes
	})
	named := map[int]bool{}
	for k := 0; k < len(idx) && k < maxNamed; k++ {
		named[idx[k]] = true
	}
	var other []float64
	for i, l := range dags {
		if named[i] {
			continue
		}
		if other == nil {
			other = make([]float64, len(l.Slots))
		}
		for m, v := range l.Slots {
			other[m] += v
		}
	}
	c := 0
	for i, l := range dags {
		if named[i] {
			out = append(out, series{name: l.Name, colour: palette[c%len(palette)], slots: l.Slots})
			c++
		}
	}
	if other != nil {
		out = append(out, series{name: fmt.Sprintf("%d other DAGs", len(dags)-len(named)), colour: otherColour, slots: other})
	}
	return out
}

// niceScale picks an axis top and tick step of 1, 2 or 5 times a power of
// ten, giving about six ticks.
func niceScale(top float64) (float64, float64) {
	if top <= 0 {
		top = 1
	}
	raw := top / 6
	pow := math.Pow(10, math.Floor(math.Log10(raw)))
	step := pow
	for _, m := range []float64{1, 2, 5, 10} {
		if m*pow >= raw {
			step = m * pow
			break
		}
	}
	return math.Ceil(top/step) * step, step
}

func xOf(minute int) float64 {
	return plotLeft + float64(minute)*(plotRight-plotLeft)/1440
}

func panel(b *strings.Builder, y0 int, title string, layers []series, capSlots, yMax, step float64) {
	yOf := func(v float64) float64 {
		return float64(y0+plotBottom) - v*float64(plotBottom-plotTop)/yMax
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" font-size="14" font-weight="bold">%s</text>`+"\n", plotLeft, y0+25, html.EscapeString(title))
	// Grid and y axis labels.
	for v := 0.0; v <= yMax+step/2; v += step {
		y := yOf(v)
		fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e0e0e0"/>`+"\n", plotLeft, y, plotRight, y)
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", plotLeft-6, y+4, trimNum(v))
	}
	fmt.Fprintf(b, `<text transform="translate(18 %d) rotate(-90)" text-anchor="middle">slots</text>`+"\n", y0+(plotTop+plotBottom)/2)
	// Stacked areas, drawn as step paths (usage is per whole minute).
	cum := make([]float64, 1440)
	for _, l := range layers {
		topv := make([]float64, 1440)
		for m := range topv {
			topv[m] = cum[m] + l.slots[m]
		}
		fmt.Fprintf(b, `<path d="%s" fill="%s" stroke="none"><title>%s</title></path>`+"\n", stepArea(cum, topv, yOf), l.colour, html.EscapeString(l.name))
		cum = topv
	}
	// Axes and hour ticks.
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", plotLeft, y0+plotBottom, plotRight, y0+plotBottom)
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", plotLeft, y0+plotTop, plotLeft, y0+plotBottom)
	for h := 0; h <= 24; h += 2 {
		x := xOf(h * 60)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="black"/>`+"\n", x, y0+plotBottom, x, y0+plotBottom+5)
		fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle">%02d:00</text>`+"\n", x, y0+plotBottom+18, h)
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="end">time of day (UTC)</text>`+"\n", plotRight, y0+plotBottom+34)
	// The cap.
	yc := yOf(capSlots)
	fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s" stroke-width="2" stroke-dasharray="8 4"/>`+"\n", plotLeft, yc, plotRight, yc, capColour)
	fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end" fill="%s">cap %s slots</text>`+"\n", plotRight, yc-5, capColour, trimNum(capSlots))
}

// stepArea outlines the area between lower and upper, minute by minute,
// writing a point only where a value changes.
func stepArea(lower, upper []float64, yOf func(float64) float64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "M%.1f %.1f", xOf(0), yOf(upper[0]))
	for m := 1; m < len(upper); m++ {
		if upper[m] != upper[m-1] {
			fmt.Fprintf(&b, "H%.1fV%.1f", xOf(m), yOf(upper[m]))
		}
	}
	fmt.Fprintf(&b, "H%.1fV%.1f", xOf(len(upper)), yOf(lower[len(lower)-1]))
	for m := len(lower) - 1; m > 0; m-- {
		if lower[m] != lower[m-1] {
			fmt.Fprintf(&b, "H%.1fV%.1f", xOf(m), yOf(lower[m-1]))
		}
	}
	fmt.Fprintf(&b, "H%.1fZ", xOf(0))
	return b.String()
}

func legend(b *strings.Builder, y0 int, layers []series) {
	for i, l := range layers {
		x := plotLeft + (i%3)*300
		y := y0 + (i/3)*22
		fmt.Fprintf(b, `<rect x="%d" y="%d" width="14" height="14" fill="%s"/>`+"\n", x, y, l.colour)
		fmt.Fprintf(b, `<text x="%d" y="%d">%s</text>`+"\n", x+20, y+12, html.EscapeString(l.name))
	}
}

func trimNum(v float64) string {
	s := fmt.Sprintf("%.2f", v)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s
}
