package guard

import (
	"fmt"
	"io"
	"strings"

	"github.com/beametrics/beametrics/internal/jobs/jobcli"
)

// reportFormats are the formats of Write.
var reportFormats = jobcli.Formats[Report]{{Name: "text", Write: writeText}, jobcli.JSON[Report](), {Name: "github", Write: writeGitHub}}

// Formats are the names accepted by Write.
var Formats = reportFormats.Names()

// Write prints the report in one of Formats.
func Write(w io.Writer, r Report, format string) error {
	return reportFormats.Write(w, r, format)
}

func headline(r Report) string {
	blocked, allowed, warnings := r.Counts()
	verdict := "OK"
	if r.Blocked {
		verdict = "BLOCKED"
	}
	return fmt.Sprintf("guard plan: %s: %d blocked, %d allowed, %d warnings", verdict, blocked, allowed, warnings)
}

func summaryLine(s Summary) string {
	return fmt.Sprintf("plan: %d to create, %d to update, %d to delete, %d to replace, %d unchanged, %d reads, %d to forget",
		s.Create, s.Update, s.Delete, s.Replace, s.NoOp, s.Read, s.Forget)
}

func writeText(w io.Writer, r Report) error {
	var b strings.Builder
	b.WriteString(headline(r) + "\n")
	b.WriteString(summaryLine(r.Summary) + "\n")
	for _, f := range r.Findings {
		fmt.Fprintf(&b, "%-7s %s [%s]: %s\n", strings.ToUpper(string(f.Level)), addressOf(f), f.Action, f.Message)
	}
	if r.Blocked {
		b.WriteString("To let a reviewed change through, rerun with --allow ADDRESS for each blocked address (a moved resource's old or new address).\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeGitHub prints workflow commands that GitHub Actions turns into
// annotations: blocked changes as errors, allowed ones as notices.
func writeGitHub(w io.Writer, r Report) error {
	var b strings.Builder
	for _, f := range r.Findings {
		cmd := map[Level]string{Blocked: "error", Allowed: "notice", Warning: "warning"}[f.Level]
		title := "terraform plan guard: " + f.Address
		fmt.Fprintf(&b, "::%s title=%s::%s\n", cmd, escapeProperty(title), escapeData(addressOf(f)+" ["+f.Action+"]: "+f.Message))
	}
	b.WriteString(escapeData(headline(r)) + "\n")
	b.WriteString(summaryLine(r.Summary) + "\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// GitHub's workflow command syntax needs these characters escaped in the
// message, and additionally ':' and ',' in property values.
func escapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

func escapeProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}

// addressOf names a moved resource by both addresses, since a reviewer
// may know it by either and --allow takes either.
func addressOf(f Finding) string {
	if f.PreviousAddress == "" {
		return f.Address
	}
	return f.Address + " (moved from " + f.PreviousAddress + ")"
}
