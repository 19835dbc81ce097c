// Package cli is the command line of `beametrics bi`: it parses flags,
// resolves the connection and drives the biqueries package.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/beametrics/beametrics/internal/jobs/bi"
)

// Exit codes.
const (
	ExitOK         = 0
	ExitSomeFailed = 1
	ExitUsage      = 2
)

// Env is what the command reads from and writes to outside its arguments.
type Env struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	// Terminal is true when Stderr is a terminal; progress is shown then.
	Terminal bool
	Now      func() time.Time
}

const usageText = `usage:
  beametrics bi query list [flags]
  beametrics bi query update ID... | --query-regexp RE  [rewrite flags] [--apply]
  beametrics bi restore BACKUP [--apply]
Run any of them with -h for its flags; see docs/bi.md.
`

// Main runs `beametrics bi` with args (after "bi") and returns the exit code.
func Main(ctx context.Context, args []string, env Env) int {
	if env.Now == nil {
		env.Now = time.Now
	}
	// A closed standard output stops the command as an interrupt would:
	// with --apply, no new write starts once the changes cannot be shown.
	ignoreSIGPIPE()
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	env.Stdout = &outputWatch{w: env.Stdout, gone: func() { stop(errOutputClosed) }}
	code := dispatch(ctx, args, env)
	if outputClosed(ctx) {
		fmt.Fprintln(env.Stderr, "beametrics bi:", errOutputClosed)
	}
	return code
}

func dispatch(ctx context.Context, args []string, env Env) int {
	switch {
	case len(args) >= 2 && args[0] == "query" && args[1] == "list":
		return runList(ctx, args[2:], env)
	case len(args) >= 2 && args[0] == "query" && args[1] == "update":
		return runUpdate(ctx, args[2:], env)
	case len(args) >= 1 && args[0] == "restore":
		return runRestore(ctx, args[1:], env)
	case (len(args) == 1 || len(args) == 2 && args[0] == "query") && isHelp(args[len(args)-1]):
		fmt.Fprint(env.Stdout, usageText)
		return ExitOK
	}
	if len(args) == 0 {
		fmt.Fprintf(env.Stderr, "beametrics bi: missing command\n%s", usageText)
		return ExitUsage
	}
	fmt.Fprintf(env.Stderr, "beametrics bi: unknown command %q\n%s", strings.Join(args, " "), usageText)
	return ExitUsage
}

func isHelp(a string) bool { return a == "-h" || a == "-help" || a == "--help" || a == "help" }

// fail prints err and returns its exit code.
func fail(env Env, err error) int {
	fmt.Fprintln(env.Stderr, "beametrics bi:", err)
	var ce configError
	if errors.As(err, &ce) {
		return ExitUsage
	}
	return ExitSomeFailed
}

// parse parses a subcommand's flags; help is exit 0, a bad flag exit 2.
func parse(fs *flag.FlagSet, args []string, env Env) ([]string, int, bool) {
	fs.SetOutput(env.Stderr)
	pos, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return nil, ExitOK, false
	}
	if err != nil {
		return nil, ExitUsage, false
	}
	return pos, 0, true
}

// progress returns a progress printer for a terminal, or nil.
func progress(env Env, verb string) func(done, total int) {
	if !env.Terminal {
		return nil
	}
	return func(done, total int) {
		if done%100 != 0 && done != total {
			return
		}
		if total > 0 {
			fmt.Fprintf(env.Stderr, "\r%s %d/%d queries", verb, done, total)
		} else {
			fmt.Fprintf(env.Stderr, "\r%s %d queries", verb, done)
		}
		if done == total {
			fmt.Fprintln(env.Stderr)
		}
	}
}

// dataSources indexes a provider's data sources.
type dataSources struct {
	list []bi.DataSource
}

func fetchDataSources(ctx context.Context, p bi.Provider) (dataSources, error) {
	l, err := p.DataSources(ctx)
	return dataSources{l}, err
}

// resolve turns "ID" or "NAME" into a data source id.
func (d dataSources) resolve(flagName, spec string) (int, error) {
	var names []string
	for _, ds := range d.list {
		if strconv.Itoa(ds.ID) == spec || ds.Name == spec {
			return ds.ID, nil
		}
		names = append(names, fmt.Sprintf("%d (%s)", ds.ID, ds.Name))
	}
	return 0, configErrorf("--%s %q: no such data source; there are: %s", flagName, spec, strings.Join(names, ", "))
}

func (d dataSources) name(id int) string {
	for _, ds := range d.list {
		if ds.ID == id {
			return ds.Name
		}
	}
	return ""
}

func (d dataSources) label(id int) string {
	if n := d.name(id); n != "" {
		return fmt.Sprintf("%d (%s)", id, n)
	}
	return strconv.Itoa(id)
}

// selection is the query-choosing flags shared by list and update.
type selection struct {
	queryRE, nameRE, dataSource, tag string
	archived                         bool
}

func (s *selection) register(fs *flag.FlagSet, dataSourceFlag string) {
	fs.StringVar(&s.queryRE, "query-regexp", "", "select queries whose SQL matches this RE2 regexp")
	fs.StringVar(&s.nameRE, "name-regexp", "", "select queries whose name matches this RE2 regexp")
	fs.StringVar(&s.dataSource, dataSourceFlag, "", "select queries on this data source (ID or NAME)")
	fs.StringVar(&s.tag, "tag", "", "select queries with this tag (Redash only)")
	fs.BoolVar(&s.archived, "archived", false, "select among archived queries instead of live ones")
}

func (s *selection) any() bool {
	return s.queryRE != "" || s.nameRE != "" || s.dataSource != "" || s.tag != "" || s.archived
}

// listSelected lists and filters. lines maps id to the first matching line.
func (s *selection) listSelected(ctx context.Context, p bi.Provider, ds func() (dataSources, error), dsFlag string, env Env) ([]bi.Query, map[int]string, error) {
	f := bi.Filter{Tag: s.tag}
	var err error
	if f.QueryRE, err = compile("query-regexp", s.queryRE); err != nil {
		return nil, nil, err
	}
	if f.NameRE, err = compile("name-regexp", s.nameRE); err != nil {
		return nil, nil, err
	}
	if s.tag != "" && !p.SupportsTags() {
		return nil, nil, configErrorf("--tag: %s queries have no tags", p.Kind())
	}
	if s.dataSource != "" {
		d, err := ds()
		if err != nil {
			return nil, nil, err
		}
		if f.DataSourceID, err = d.resolve(dsFlag, s.dataSource); err != nil {
			return nil, nil, err
		}
	}
	leftOut := map[string][]int{}
	all, err := p.List(ctx, bi.ListOptions{
		Archived: s.archived, Progress: progress(env, "listed"),
		LeftOut: func(id int, reason string) { leftOut[reason] = append(leftOut[reason], id) },
	})
	if err != nil {
		return nil, nil, err
	}
	reportLeftOut(env, leftOut)
	var out []bi.Query
	lines := map[int]string{}
	for _, q := range all {
		if ok, line := f.Match(q); ok {
			out = append(out, q)
			lines[q.ID] = line
		}
	}
	return out, lines, nil
}

// cachedDataSources fetches data sources at most once.
func cachedDataSources(ctx context.Context, p bi.Provider) func() (dataSources, error) {
	var (
		d    dataSources
		err  error
		done bool
	)
	return func() (dataSources, error) {
		if !done {
			d, err = fetchDataSources(ctx, p)
			done = true
		}
		return d, err
	}
}

// setup resolves settings and connects.
func setup(c *connFlags, env Env) (bi.Provider, settings, error) {
	getenv := env.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	s, err := c.resolve(getenv)
	if err != nil {
		return nil, s, err
	}
	p, err := c.connect(s)
	return p, s, err
}

// reportLeftOut tells, on stderr, which listed items were not taken as
// queries and why, grouped by reason.
func reportLeftOut(env Env, leftOut map[string][]int) {
	reasons := make([]string, 0, len(leftOut))
	for r := range leftOut {
		reasons = append(reasons, r)
	}
	slices.Sort(reasons)
	for _, r := range reasons {
		ids := leftOut[r]
		shown := make([]string, 0, 20)
		for _, id := range ids[:min(len(ids), 20)] {
			shown = append(shown, strconv.Itoa(id))
		}
		more := ""
		if len(ids) > 20 {
			more = " ..."
		}
		fmt.Fprintf(env.Stderr, "left out %d listed items: %s (ids %s%s)\n", len(ids), r, strings.Join(shown, " "), more)
	}
}
