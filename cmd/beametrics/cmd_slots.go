package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/beametrics/beametrics/internal/jobs/slots"
	"github.com/beametrics/beametrics/internal/jobs/slots/constraints"
	"github.com/beametrics/beametrics/internal/jobs/slots/cronshift"
	"github.com/beametrics/beametrics/internal/jobs/slots/history"
	"github.com/beametrics/beametrics/internal/jobs/slots/planner"
	"github.com/beametrics/beametrics/internal/jobs/slots/profile"
	"github.com/beametrics/beametrics/internal/jobs/slots/report"
)

func init() {
	register("slots", "spread Airflow DAG start times so BigQuery slot usage stays under a cap (profile, plan)", runSlots)
}

const slotsUsage = `usage: beametrics slots profile --timeline FILE|--jobs FILE --runs FILE --cap SLOTS --out FILE [-- BEAM FLAGS]
       beametrics slots plan --profile FILE --cap SLOTS [--constraints FILE] [--use p90|median] [--margin 5%,5m] [--timezone ZONE] [--out-dir DIR]
See docs/slots.md.`

const slotsProfileUsage = `usage: beametrics slots profile --timeline FILE|--jobs FILE --runs FILE --cap SLOTS --out FILE [-- BEAM FLAGS]

Flags after -- go to Beam: the runner (prism, the default, or dataflow) and
Dataflow's settings; 'beametrics --help-beam' lists them. See docs/slots.md.`

const slotsPlanUsage = `usage: beametrics slots plan --profile FILE --cap SLOTS [--constraints FILE] [--use p90|median] [--margin 5%,5m] [--timezone ZONE] [--out-dir DIR]
See docs/slots.md.`

func runSlots(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, slotsUsage)
		return 2
	}
	switch args[0] {
	case "profile":
		return slotsProfile(args[1:], os.Stdout, os.Stderr)
	case "plan":
		return slotsPlan(args[1:], os.Stdout, os.Stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(os.Stdout, slotsUsage)
		return 0
	}
	fmt.Fprintf(os.Stderr, "beametrics slots: unknown step %q\n%s\n", args[0], slotsUsage)
	return 2
}

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func slotsProfile(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("slots profile", flag.ContinueOnError)
	var timeline, jobs listFlag
	fs.Var(&timeline, "timeline", "JOBS_TIMELINE_BY_PROJECT export (file or glob, local or gs://; repeatable)")
	fs.Var(&jobs, "jobs", "JOBS_BY_PROJECT export, the coarser alternative to --timeline (repeatable)")
	runs := fs.String("runs", "", "Airflow DAG run history export (required)")
	capSlots := fs.Float64("cap", 0, "slot cap (reservation size) to measure over-cap minutes against (required)")
	out := fs.String("out", "", "profile JSON to write, local or gs:// (required)")
	format := fs.String("format", "", "format of the job history files: json or csv (default: from each file's extension)")
	runsFormat := fs.String("runs-format", "", "format of the runs file: json or csv (default: from its extension)")
	if code, ok := parseSubcommandFlags(fs, args, slotsProfileUsage, stdout, stderr); !ok {
		return code
	}
	cfg := profile.Config{RunsFile: *runs, CapSlots: *capSlots, Out: *out,
		Format: history.Format(*format), RunsFormat: history.Format(*runsFormat)}
	switch {
	case len(timeline) > 0 && len(jobs) > 0:
		return usageErr(stderr, "give --timeline or --jobs, not both")
	case len(timeline) > 0:
		cfg.Inputs, cfg.Kind = timeline, history.KindTimeline
	case len(jobs) > 0:
		cfg.Inputs, cfg.Kind = jobs, history.KindJobs
	default:
		return usageErr(stderr, "--timeline or --jobs is required")
	}
	if *runs == "" || *out == "" || *capSlots <= 0 {
		return usageErr(stderr, "--runs, --out and a positive --cap are required")
	}
	for _, f := range []string{*format, *runsFormat} {
		if f != "" && f != "json" && f != "csv" {
			return usageErr(stderr, fmt.Sprintf("format %q: want json or csv", f))
		}
	}
	// Flags after the step's own go to Beam (--runner, --project, ...).
	if err := flag.CommandLine.Parse(fs.Args()); err != nil {
		return 2
	}
	if err := profile.Run(context.Background(), cfg); err != nil {
		fmt.Fprintf(stderr, "beametrics slots profile: %v\n", err)
		return 1
	}
	if strings.Contains(*out, "://") {
		fmt.Fprintf(stdout, "profile written to %s\n", *out)
		return 0
	}
	doc, err := profile.ReadDoc(*out)
	if err != nil {
		fmt.Fprintf(stderr, "beametrics slots profile: reading back %s: %v\n", *out, err)
		return 1
	}
	printProfileSummary(stdout, doc, *out)
	return 0
}

func printProfileSummary(w io.Writer, d *profile.Doc, out string) {
	var rows int64
	for _, n := range d.Rows {
		rows += n
	}
	fmt.Fprintf(w, "profile written to %s\n", out)
	span := "no slot usage at all"
	if d.Days > 0 {
		span = fmt.Sprintf("%s to %s UTC (%d days)", d.From.Format("2006-01-02 15:04"), d.To.Format("2006-01-02 15:04"), d.Days)
	}
	fmt.Fprintf(w, "job history: %d rows from %d files, %d bad; %s\n", rows, len(d.Rows), len(d.BadRows), span)
	printBad(w, d.BadRows)
	fmt.Fprintf(w, "run history: %d bad rows\n", len(d.BadRunRows))
	printBad(w, d.BadRunRows)
	var total int64
	for _, v := range d.SlotMsByMethod {
		total += v
	}
	if total > 0 {
		fmt.Fprintf(w, "slot time by attribution:")
		for _, m := range []string{history.ByLabel, history.ByOverlap, history.Ambiguous, history.None} {
			fmt.Fprintf(w, " %s %.1f%%", m, 100*float64(d.SlotMsByMethod[m])/float64(total))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "DAG profiles: %d\n", len(d.DAGs))
	fmt.Fprintf(w, "minutes over the cap of %g slots: %d\n", d.CapSlots, len(d.OverCap))
	worst := -1
	for i, o := range d.OverCap {
		if worst < 0 || o.Slots > d.OverCap[worst].Slots {
			worst = i
		}
	}
	if worst >= 0 {
		o := d.OverCap[worst]
		fmt.Fprintf(w, "worst: %s with %.1f slots:", o.At.Format("2006-01-02 15:04"), o.Slots)
		for k, s := range o.DAGs {
			if k == 5 {
				fmt.Fprintf(w, " ...")
				break
			}
			fmt.Fprintf(w, " %s %.1f", s.DAG, s.Slots)
		}
		fmt.Fprintln(w)
	}
}

func printBad(w io.Writer, bad []history.BadRow) {
	for i, b := range bad {
		if i == 10 {
			fmt.Fprintf(w, "  ... and %d more (all are listed in the profile)\n", len(bad)-10)
			return
		}
		fmt.Fprintf(w, "  %s\n", b)
	}
}

func slotsPlan(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("slots plan", flag.ContinueOnError)
	profPath := fs.String("profile", "", "profile JSON written by 'beametrics slots profile' (required)")
	capSlots := fs.Float64("cap", 0, "slot cap to plan under (required)")
	consPath := fs.String("constraints", "", "constraints YAML (optional; without it every DAG with a movable schedule may move anywhere in the day)")
	use := fs.String("use", "p90", "per-minute profile to plan with: p90 or median")
	outDir := fs.String("out-dir", "", "directory to write plan.md, plan.svg and plan.json into (optional)")
	margin := fs.String("margin", slots.DefaultMargin, "headroom: SLOTS,MINUTESm; plan under the cap minus SLOTS (a number or a % of the cap) with each DAG widened by MINUTES on both sides; 0 for none")
	zone := fs.String("timezone", "", "time zone (IANA name, e.g. Asia/Tokyo) of the DAGs whose run history names none: their cron lines are read and written in it (default UTC)")
	if code, ok := parseSubcommandFlags(fs, args, slotsPlanUsage, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return usageErr(stderr, fmt.Sprintf("unexpected arguments %q", fs.Args()))
	}
	if *profPath == "" || *capSlots <= 0 {
		return usageErr(stderr, "--profile and a positive --cap are required")
	}
	m, err := slots.ParseMargin(*margin, *capSlots)
	if err != nil {
		return usageErr(stderr, err.Error())
	}
	loc, err := cronshift.LoadZone(*zone)
	if err != nil {
		return usageErr(stderr, err.Error())
	}
	doc, err := profile.ReadDoc(*profPath)
	if err != nil {
		fmt.Fprintf(stderr, "beametrics slots plan: %v\n", err)
		return 1
	}
	var cons *constraints.File
	if *consPath != "" {
		if cons, err = constraints.Read(*consPath); err != nil {
			fmt.Fprintf(stderr, "beametrics slots plan: %v\n", err)
			return 1
		}
	} else {
		fmt.Fprintln(stderr, "beametrics slots plan: no --constraints: every DAG with a movable schedule may move anywhere in the day")
	}
	pl, err := slots.Build(doc, cons, slots.Options{CapSlots: *capSlots, Use: *use, Solver: planner.DefaultOptions, Margin: m, Timezone: loc})
	if err != nil {
		fmt.Fprintf(stderr, "beametrics slots plan: %v\n", err)
		if slots.IsInfeasible(err) {
			return 3
		}
		return 1
	}
	if err := report.Table(stdout, pl); err != nil {
		return 1
	}
	if *outDir == "" {
		return 0
	}
	if err := writePlanFiles(*outDir, pl); err != nil {
		fmt.Fprintf(stderr, "beametrics slots plan: %v\n", err)
		return 1
	}
	fmt.Fprintf(stderr, "wrote plan.md, plan.svg and plan.json to %s\n", *outDir)
	return 0
}

func writePlanFiles(dir string, pl *slots.Plan) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	write := func(name string, fill func(io.Writer) error) error {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		if err := fill(f); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	return errors.Join(
		write("plan.md", func(w io.Writer) error { return report.Table(w, pl) }),
		write("plan.svg", func(w io.Writer) error { return report.Chart(w, pl) }),
		write("plan.json", func(w io.Writer) error {
			e := json.NewEncoder(w)
			e.SetIndent("", " ")
			return e.Encode(pl)
		}),
	)
}

func usageErr(w io.Writer, msg string) int {
	fmt.Fprintf(w, "beametrics slots: %s\n%s\n", msg, slotsUsage)
	return 2
}
