package flaky

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/beametrics/beametrics/internal/jobs/jobcli"
)

// reportFormats are the formats of WriteReport.
var reportFormats = jobcli.Formats[Report]{{Name: "table", Write: writeTable}, jobcli.JSON[Report](), {Name: "markdown", Write: writeMarkdown}}

// OutputFormats are the names accepted by WriteReport.
var OutputFormats = reportFormats.Names()

// badRowsShown bounds the bad rows listed in the table and Markdown
// outputs; the count is always complete and JSON lists them all.
const badRowsShown = 20

// WriteReport prints the report in one of OutputFormats.
func WriteReport(w io.Writer, r Report, format string) error {
	return reportFormats.Write(w, r, format)
}

const dateFormat = "2006-01-02 15:04"

func writeTable(w io.Writer, r Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%d tries read, %d bad rows; %d tasks, %d with at least %d flaky run(s) (engine: %s)\n\n",
		r.Tries, len(r.BadRows), r.TasksSeen, len(r.Tasks), r.MinFlakyRuns, r.Engine)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tDAG\tTASK\tFLAKY\tFLAKY RUNS\tFAILED RUNS\tRETRIES\tWASTED MIN\tFIRST SEEN\tLAST SEEN")
	for i, t := range r.Tasks {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%.1f%%\t%d/%d\t%d\t%d\t%.1f\t%s\t%s\n", i+1, t.DagID, t.TaskID, 100*t.FlakyRate,
			t.FlakyRuns, t.Instances, t.FailedRuns, t.Retries, t.WastedMinutes, t.FirstSeen.Format(dateFormat), t.LastSeen.Format(dateFormat))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for i, t := range r.Tasks {
		fmt.Fprintf(&b, "\n%d. %s.%s failure signatures:\n", i+1, t.DagID, t.TaskID)
		if len(t.Signatures) == 0 {
			b.WriteString("  (no failed tries)\n")
		}
		for _, s := range t.Signatures {
			fmt.Fprintf(&b, "  %5dx  %s\n         %s\n", s.Count, s.Signature, exampleLine(s))
		}
		for i, c := range t.Causes {
			if i == topCausesAdvised {
				break
			}
			if i == 0 {
				b.WriteString("  what to do:\n")
			}
			fmt.Fprintf(&b, "    - %s (%dx): %s\n", c.Label, c.Count, c.Advice)
		}
		if t.NoDuration > 0 {
			fmt.Fprintf(&b, "  note: %d failed tries had no start_date; their time is not in WASTED MIN\n", t.NoDuration)
		}
	}
	writeBadRows(&b, r.BadRows, func(x BadRow) string {
		return fmt.Sprintf("  %s:%d: %s\n", x.Source, x.Line, x.Reason)
	})
	_, err := io.WriteString(w, b.String())
	return err
}

func writeBadRows(b *strings.Builder, rows []BadRow, line func(BadRow) string) {
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(b, "\n%d bad rows (not counted above):\n", len(rows))
	for i, x := range rows {
		if i == badRowsShown {
			fmt.Fprintf(b, "  ... and %d more (--format json lists them all)\n", len(rows)-badRowsShown)
			break
		}
		b.WriteString(line(x))
	}
}

func writeMarkdown(w io.Writer, r Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "## Flaky tasks\n\n%d tries read, %d bad rows; %d tasks, %d with at least %d flaky run(s).\n\n",
		r.Tries, len(r.BadRows), r.TasksSeen, len(r.Tasks), r.MinFlakyRuns)
	b.WriteString("| # | DAG | Task | Flaky rate | Flaky runs | Failed runs | Retries | Wasted min | First seen | Last seen |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
	for i, t := range r.Tasks {
		fmt.Fprintf(&b, "| %d | %s | %s | %.1f%% | %d/%d | %d | %d | %.1f | %s | %s |\n", i+1, mdCell(t.DagID), mdCell(t.TaskID),
			100*t.FlakyRate, t.FlakyRuns, t.Instances, t.FailedRuns, t.Retries, t.WastedMinutes,
			t.FirstSeen.Format(dateFormat), t.LastSeen.Format(dateFormat))
	}
	for i, t := range r.Tasks {
		fmt.Fprintf(&b, "\n### %d. %s.%s\n\n", i+1, mdText(t.DagID), mdText(t.TaskID))
		if len(t.Signatures) == 0 {
			b.WriteString("No failed tries.\n")
		}
		for _, s := range t.Signatures {
			label, text := "e.g.", oneLine(FailureLine(s.Example))
			if s.Cause != "" {
				label, text = "evidence:", s.Evidence
			}
			fmt.Fprintf(&b, "- **%d×** %s  \n  %s %s\n", s.Count, mdCode(s.Signature), label, mdCode(text))
		}
		for i, c := range t.Causes {
			if i == topCausesAdvised {
				break
			}
			if i == 0 {
				b.WriteString("\nWhat to do:\n\n")
			}
			fmt.Fprintf(&b, "- %s (%d×): %s\n", mdText(c.Label), c.Count, mdText(c.Advice))
		}
	}
	writeBadRows(&b, r.BadRows, func(x BadRow) string {
		return fmt.Sprintf("- %s line %d: %s\n", mdText(x.Source), x.Line, mdText(x.Reason))
	})
	_, err := io.WriteString(w, b.String())
	return err
}

// topCausesAdvised bounds the advice printed per task.
const topCausesAdvised = 3

// exampleLine shows a known cause's evidence line, or an example of the
// signature.
func exampleLine(s SignatureSummary) string {
	if s.Cause != "" {
		return "evidence: " + s.Evidence
	}
	return "e.g. " + oneLine(FailureLine(s.Example))
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

func mdCell(s string) string { return strings.ReplaceAll(mdText(s), "|", `\|`) }

func mdText(s string) string {
	return strings.NewReplacer("*", `\*`, "_", `\_`, "`", "\\`", "<", "&lt;", ">", "&gt;").Replace(s)
}

// mdCode wraps s in a code span long enough not to be closed by backticks
// inside it.
func mdCode(s string) string {
	fence := "`"
	for strings.Contains(s, fence) {
		fence += "`"
	}
	return fence + " " + s + " " + fence
}
