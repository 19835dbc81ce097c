package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/beametrics/beametrics/internal/loggen"
	"github.com/beametrics/beametrics/internal/testing/exampleconfigs"
)

// runChild runs beametrics with args in a child process (the test binary,
// see TestMain) and returns its exit code, stdout and stderr.
func runChild(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	a, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childArgsEnv+"="+string(a))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case errors.As(err, &exit):
		return exit.ExitCode(), stdout.String(), stderr.String()
	}
	t.Fatalf("beametrics %q: %v", args, err)
	return 0, "", ""
}

var usageLine = regexp.MustCompile(`(?im)^usage( of .*)?:`)

// TestHelpEverywhere: -h, -help and --help print the usage once, to
// stdout, and exit 0, for the pipeline and every subcommand and step.
func TestHelpEverywhere(t *testing.T) {
	cases := [][]string{{"help"}, {"--help"}, {"-help"}, {"--config", "x.yaml", "-h"}, {"--help-beam"}}
	names := make([]string, 0, len(subcommands))
	for n := range subcommands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names { // a new subcommand is covered without a change here
		cases = append(cases, []string{n, "-h"}, []string{n, "--help"})
	}
	for _, steps := range [][]string{
		{"slots", "profile"}, {"slots", "plan"}, {"guard", "plan"},
		{"bi", "query"}, {"bi", "query", "list"}, {"bi", "query", "update"}, {"bi", "restore"},
	} {
		cases = append(cases, append(steps, "-h"))
	}
	if len(cases) < 30 {
		t.Fatalf("only %d cases: the subcommands are not registered", len(cases))
	}
	for _, args := range cases {
		code, out, errOut := runChild(t, args...)
		if code != 0 || errOut != "" {
			t.Errorf("beametrics %s: exit %d, stderr %q; want 0 and nothing", strings.Join(args, " "), code, errOut)
		}
		if n := len(usageLine.FindAllString(out, -1)); n != 1 {
			t.Errorf("beametrics %s: %d usage lines on stdout, want 1:\n%s", strings.Join(args, " "), n, out)
		}
	}
}

// TestBadFlagIsShort: a mistyped flag gets one line and a pointer, on
// stderr, exit 2, not the help.
func TestBadFlagIsShort(t *testing.T) {
	code, out, errOut := runChild(t, "--confg", "x.yaml")
	if code != 2 || out != "" || errOut != "flag provided but not defined: -confg\nrun 'beametrics --help' for the flags\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// TestMainHelpOwnFlagsFirst: every beametrics flag is in --help, before the
// Beam section; no Beam flag is listed before it.
func TestMainHelpOwnFlagsFirst(t *testing.T) {
	var b bytes.Buffer
	printMainHelp(&b)
	help := b.String()
	own, beamPart, found := strings.Cut(help, "\nBeam runner flags")
	if !found {
		t.Fatalf("no Beam runner flags section:\n%s", help)
	}
	listed := func(text, name string) bool {
		return regexp.MustCompile(`(?m)^  --` + regexp.QuoteMeta(name) + `( |$)`).MatchString(text)
	}
	n := 0
	pipelineFlags().VisitAll(func(f *flag.Flag) {
		n++
		if !listed(own, f.Name) {
			t.Errorf("--%s is not in --help before the Beam section", f.Name)
		}
	})
	if n < 30 {
		t.Errorf("only %d beametrics flags", n)
	}
	for _, f := range beamFlags() {
		if listed(own, f.Name) {
			t.Errorf("Beam's --%s is listed among beametrics' flags", f.Name)
		}
	}
	if !listed(beamPart, "runner") || !strings.Contains(beamPart, "prism (the default") || !strings.Contains(beamPart, "--help-beam") {
		t.Errorf("the Beam section does not show --runner with prism as the default and --help-beam:\n%s", beamPart)
	}
	// README's order within a group: --config leads.
	if !strings.HasPrefix(strings.SplitN(own, "What to measure:\n", 2)[1], "  --config ") {
		t.Errorf("--config does not lead its group:\n%s", own)
	}
}

// TestBeamHelpRequiredOnlyWhereTrue: Beam marks --region, --staging_location
// and --endpoint "(required)", which a local run is not; --help-beam says
// where they are needed instead.
func TestBeamHelpRequiredOnlyWhereTrue(t *testing.T) {
	var b bytes.Buffer
	printBeamHelp(&b)
	help := b.String()
	for _, line := range strings.Split(help, "\n") {
		if strings.Contains(line, "(required") && !strings.Contains(line, "worker mode") {
			t.Errorf("claims a flag is required: %q", line)
		}
	}
	for _, want := range []string{"--region string\n    \tGCP region of the Dataflow job (Dataflow only; required there)", "--staging_location string\n    \tGCS location where Dataflow stages the worker binary (Dataflow only", "--worker_zone"} {
		if !strings.Contains(help, want) {
			t.Errorf("--help-beam does not say %q", want)
		}
	}
	if strings.Contains(help, "\n  --config ") || strings.Contains(help, "\n  --monitoring-project ") {
		t.Errorf("--help-beam lists beametrics' own flags")
	}
}

// TestValidateAgreesWithRun: for every example config, validate with a
// run's flags exits as the run with the same flags does, with the same
// message; the expected codes are what each file asks for.
func TestValidateAgreesWithRun(t *testing.T) {
	input := writeLogs(t, 200)
	want := map[string]int{
		"liveness.yaml":   2, // Cloud Monitoring without --monitoring-project
		"original.yaml":   2, // the same
		"quickstart.yaml": 0, // local export
	}
	configs := exampleconfigs.List(t)
	for _, c := range configs {
		flags := []string{"--input", input, "--local-output", filepath.Join(t.TempDir(), "out.jsonl")}
		vCode, vOut, vErr := runCmd(validate, append([]string{c}, flags...)...)
		rCode, _, rErr := runChild(t, append([]string{"--config", c}, flags...)...)
		w, known := want[filepath.Base(c)]
		if !known {
			t.Errorf("%s: a new example; add its expected exit code here", c)
		}
		if vCode != w || rCode != w {
			t.Errorf("%s: validate exit %d, run exit %d, want %d\nvalidate: %s\nrun: %s", c, vCode, rCode, w, vErr, rErr)
		}
		if w == 2 && vErr != rErr {
			t.Errorf("%s: validate says\n%s\nthe run says\n%s", c, vErr, rErr)
		}
		if w == 0 && !strings.HasPrefix(vOut, "event time: ") {
			t.Errorf("%s: validate passed without describing the metrics:\n%s", c, vOut)
		}
	}
	if len(configs) != len(want) {
		t.Errorf("checked %d example configs, want %d", len(configs), len(want))
	}

	// The case of the issue: liveness.yaml passes validate once its
	// exporter has a project, and its absent: and alert: are described.
	const missing = "cloud_monitoring: project is required (flag --monitoring-project)\n"
	code, _, errOut := runCmd(validate, "../../examples/liveness.yaml")
	if code != 2 || errOut != missing {
		t.Errorf("validate liveness.yaml: exit %d, stderr %q, want 2 and %q", code, errOut, missing)
	}
	code, out, errOut := runCmd(validate, "../../examples/liveness.yaml", "--monitoring-project", "p")
	if code != 0 || errOut != "" {
		t.Errorf("validate liveness.yaml --monitoring-project p: exit %d, stderr %q", code, errOut)
	}
	for _, w := range []string{`zero when silent: {pipeline_env="blue", pipeline_id="0"}`, "alert (critical) when silent for 5m0s or below 3 for 10m0s", "zero when silent: every series seen in the last 24h0m0s; alert (warning) when silent for 15m0s"} {
		if !strings.Contains(out, w) {
			t.Errorf("validate liveness.yaml does not say %q:\n%s", w, out)
		}
	}
}

// TestRunQuietWithoutVerbose: prism's INFO lines show only with --verbose;
// beametrics' own start and summary lines always do.
func TestRunQuietWithoutVerbose(t *testing.T) {
	input := writeLogs(t, 500)
	args := []string{"--config", "../../examples/quickstart.yaml", "--input", input, "--local-output", filepath.Join(t.TempDir(), "out.jsonl")}
	code, _, errOut := runChild(t, args...)
	if code != 0 || strings.Contains(errOut, "level=INFO") {
		t.Errorf("exit %d; INFO lines without --verbose:\n%s", code, errOut)
	}
	for _, w := range []string{"beametrics: runner prism (local), replaying 1 file(s)", "beametrics: done in ", "500 events"} {
		if !strings.Contains(errOut, w) {
			t.Errorf("stderr does not say %q:\n%s", w, errOut)
		}
	}
	code, _, errOut = runChild(t, append([]string{"--verbose"}, args...)...)
	if code != 0 || !strings.Contains(errOut, "level=INFO") {
		t.Errorf("exit %d; no INFO lines with --verbose:\n%s", code, errOut)
	}
}

// writeLogs writes n generated web-app log lines, the quick start's kind.
func writeLogs(t *testing.T, n int) string {
	t.Helper()
	g := loggen.New(1, time.Date(2025, 11, 24, 16, 0, 0, 0, time.UTC), 10*time.Millisecond)
	var b []byte
	for i := 0; i < n; i++ {
		b, _ = g.Append(b)
		b = append(b, '\n')
	}
	path := filepath.Join(t.TempDir(), "logs.jsonl")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestReadmeFlagTableIsHelp: README's flag table has --help's groups, in
// its order, and names only flags the pipeline has.
func TestReadmeFlagTableIsHelp(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, _ := strings.Cut(string(b), "\n### Flags\n")
	_, table, _ = strings.Cut(table, "\n| flag | meaning |")
	table, _, _ = strings.Cut(table, "\n\n") // the table's rows only
	var titles []string
	for _, m := range regexp.MustCompile(`(?m)^\| \*\*(.+?)\*\* \|`).FindAllStringSubmatch(table, -1) {
		titles = append(titles, m[1])
	}
	var want []string
	for _, g := range pipelineFlagGroups {
		want = append(want, g.title)
	}
	if strings.Join(titles, "|") != strings.Join(want, "|") {
		t.Errorf("README's flag groups %q, --help's %q", titles, want)
	}
	own := pipelineFlags()
	names := regexp.MustCompile("`[^`]*`").FindAllString(table, -1)
	flags := 0
	for _, code := range names {
		for _, m := range regexp.MustCompile(`--([a-z][a-z0-9-]*)`).FindAllStringSubmatch(code, -1) {
			flags++
			if own.Lookup(m[1]) == nil && m[1] != "help" && m[1] != "help-beam" {
				t.Errorf("README's flag table names --%s, which the pipeline does not have", m[1])
			}
		}
	}
	if flags < 25 {
		t.Errorf("only %d flags found in README's table", flags)
	}
}
