package guard

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/beametrics/beametrics/internal/jobs/jobcli"
)

// Exit codes of the plan subcommand.
const (
	ExitOK       = 0
	ExitBlocked  = 1
	ExitBadInput = 2
)

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error {
	if strings.TrimSpace(v) == "" {
		return errors.New("empty value")
	}
	*l = append(*l, v)
	return nil
}

// PlanMain runs `guard plan [flags] PLAN.json` and returns the exit code.
// PLAN.json may be "-" for standard input. Flags may come before or after
// the file name.
func PlanMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("guard plan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var allow, protect stringList
	fs.Var(&allow, "allow", "resource address whose deletion or replacement was reviewed and may go through (repeatable), e.g. 'module.x.google_bigquery_table.t' or 'google_storage_bucket.b[\"logs\"]'")
	fs.Var(&protect, "protect", "extra resource type to protect besides the built-in list (repeatable), e.g. google_firestore_database")
	format := fs.String("format", "text", "output format: "+strings.Join(Formats, ", "))
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: beametrics guard plan [flags] PLAN.json   (PLAN.json from `terraform show -json PLANFILE`; - reads stdin)")
		fmt.Fprintln(stderr, "exit codes: 0 ok (warnings allowed), 1 blocked, 2 bad input or usage")
		fmt.Fprintln(stderr, "protected by default: "+strings.Join(DefaultProtectedTypes, ", "))
		fs.PrintDefaults()
	}
	positional, err := jobcli.ParseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	if err != nil {
		return ExitBadInput
	}
	if len(positional) != 1 {
		fmt.Fprintf(stderr, "guard plan: want exactly one plan file, got %d\n", len(positional))
		fs.Usage()
		return ExitBadInput
	}
	if err := reportFormats.Check(*format); err != nil {
		fmt.Fprintf(stderr, "guard plan: %v\n", err)
		return ExitBadInput
	}

	in := stdin
	if name := positional[0]; name != "-" {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintf(stderr, "guard plan: %v\n", err)
			return ExitBadInput
		}
		defer f.Close()
		in = f
	}
	plan, err := ParsePlan(in)
	if err != nil {
		fmt.Fprintf(stderr, "guard plan: %s: %v\n", positional[0], err)
		return ExitBadInput
	}
	rep, err := Check(plan, NewPolicy(protect, allow))
	if err != nil {
		fmt.Fprintf(stderr, "guard plan: %s: %v\n", positional[0], err)
		return ExitBadInput
	}
	if err := Write(stdout, rep, *format); err != nil {
		fmt.Fprintf(stderr, "guard plan: writing report: %v\n", err)
		return ExitBadInput
	}
	if rep.Blocked {
		return ExitBlocked
	}
	return ExitOK
}
