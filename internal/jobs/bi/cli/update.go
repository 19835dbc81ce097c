package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/beametrics/beametrics/internal/jobs/bi"
)

// safety is the flags that guard writes, shared by update and restore.
type safety struct {
	apply, yes bool
	maxChanges int
	backupDir  string
}

func (s *safety) register(fs *flag.FlagSet) {
	fs.BoolVar(&s.apply, "apply", false, "write the changes; without it the run is a dry run that only prints diffs")
	fs.BoolVar(&s.yes, "yes", false, "confirm a run changing more than --max-changes queries")
	fs.IntVar(&s.maxChanges, "max-changes", DefaultMaxChanges, "refuse to change more queries than this without --yes")
	fs.StringVar(&s.backupDir, "backup-dir", ".", "directory in which each applied run creates its backup directory")
}

func runUpdate(ctx context.Context, args []string, env Env) int {
	fs := flag.NewFlagSet("bi query update", flag.ContinueOnError)
	var conn connFlags
	conn.register(fs)
	var sel selection
	sel.register(fs, "in-data-source")
	var safe safety
	safe.register(fs)
	whole := fs.String("query", "", "replace the whole SQL text with this")
	wholeFile := fs.String("query-file", "", "replace the whole SQL text with this file's content, exactly")
	move := fs.String("data-source", "", "move the queries to this data source (ID or NAME)")
	// Declared for -h only: extractRewrites takes them out before parsing.
	fs.String("query-replace", "", "replace literal `OLD` with NEW; takes two arguments, OLD NEW (repeatable, applied in order)")
	fs.String("regexp-replace", "", "replace RE2 matches of `RE` with REPL, $1 for groups; takes two arguments, RE REPL (repeatable, in order with --query-replace)")

	rest, rewrites, err := extractRewrites(fs, args)
	if err != nil {
		return fail(env, err)
	}
	pos, code, ok := parse(fs, rest, env)
	if !ok {
		return code
	}
	var ids []int
	for _, a := range pos {
		id, err := strconv.Atoi(a)
		if err != nil || id <= 0 {
			return fail(env, configErrorf("%q is not a query id", a))
		}
		ids = append(ids, id)
	}
	switch {
	case len(ids) > 0 && sel.any():
		return fail(env, configErrorf("give query IDs or selection flags (--query-regexp and the like), not both"))
	case len(ids) == 0 && !sel.any():
		return fail(env, configErrorf("no queries selected: give query IDs or --query-regexp RE (or another selection flag)"))
	case *whole != "" && *wholeFile != "":
		return fail(env, configErrorf("--query and --query-file both replace the whole text; give one"))
	case (*whole != "" || *wholeFile != "") && len(rewrites) > 0:
		return fail(env, configErrorf("--query/--query-file replace the whole text; they cannot be combined with --query-replace or --regexp-replace"))
	case safe.maxChanges < 0:
		return fail(env, configErrorf("--max-changes must not be negative"))
	}
	if *wholeFile != "" {
		b, err := os.ReadFile(*wholeFile)
		if err != nil {
			return fail(env, configErrorf("--query-file: %v", err))
		}
		rewrites = []bi.Rewrite{bi.WholeText{SQL: string(b)}}
	} else if *whole != "" {
		rewrites = []bi.Rewrite{bi.WholeText{SQL: *whole}}
	}
	if len(rewrites) == 0 && *move == "" {
		return fail(env, configErrorf("nothing to change: give --query-replace, --regexp-replace, --query, --query-file or --data-source"))
	}

	p, s, err := setup(&conn, env)
	if err != nil {
		return fail(env, err)
	}
	ds := cachedDataSources(ctx, p)
	var names dataSources
	target := 0
	if *move != "" {
		if names, err = ds(); err != nil {
			return fail(env, err)
		}
		if target, err = names.resolve("data-source", *move); err != nil {
			return fail(env, err)
		}
	}

	var sum bi.Summary
	var qs []bi.Query
	if len(ids) > 0 {
		var failed []bi.Result
		qs, failed, err = bi.FetchByID(ctx, p, ids, conn.concurrency)
		for _, f := range failed {
			fmt.Fprintf(env.Stderr, "query %d: failed: %s\n", f.ID, f.Reason)
			sum.Add(bi.Failed, f.ID, f.Reason)
		}
		if err != nil {
			return fail(env, nothingWritten(err))
		}
	} else if qs, _, err = sel.listSelected(ctx, p, ds, "in-data-source", env); err != nil {
		return fail(env, err)
	}

	plans := make([]bi.Plan, len(qs))
	for i, q := range qs {
		ch := bi.Change{SQL: bi.ApplyAll(q.SQL, rewrites), DataSourceID: q.DataSourceID}
		if target != 0 {
			ch.DataSourceID = target
		}
		plans[i] = bi.Plan{Query: q, Target: ch}
	}
	return execute(ctx, p, s, plans, &sum, names, safe, conn, "query update", env)
}

// execute previews the plans, checks the bulk-safety limit and, with
// --apply, writes them with a backup. It prints the summary and returns the
// exit code.
func execute(ctx context.Context, p bi.Provider, s settings, plans []bi.Plan, sum *bi.Summary,
	names dataSources, safe safety, conn connFlags, command string, env Env) int {
	r := &bi.Runner{
		Provider:        p,
		Concurrency:     conn.concurrency,
		Out:             env.Stdout,
		Errs:            env.Stderr,
		DataSourceLabel: names.label,
		Progress:        progress(env, "written"),
		Recovery: func(id int, file string, dsID int) string {
			return recoveryCommand(id, file, dsID)
		},
	}
	todo := r.Preview(plans, sum)
	if !safe.apply {
		for _, pl := range todo {
			sum.Add(bi.WouldChange, pl.Query.ID, "")
		}
		sum.Write(env.Stdout)
		fmt.Fprintln(env.Stdout, "dry run: nothing was written; add --apply to write these changes")
		if len(todo) > safe.maxChanges && !safe.yes {
			fmt.Fprintf(env.Stdout, "note: %d changes exceed --max-changes %d, so --apply will also need --yes\n", len(todo), safe.maxChanges)
		}
		return exitFor(sum)
	}
	if len(todo) > safe.maxChanges && !safe.yes {
		fmt.Fprintf(env.Stderr, "beametrics bi: refusing to change %d queries, more than --max-changes %d; check the diffs above and add --yes (or raise --max-changes)\n", len(todo), safe.maxChanges)
		return ExitUsage
	}
	if len(todo) > 0 && ctx.Err() != nil {
		// Stopped while the diffs were shown: nothing is written, so no
		// backup is needed.
		for _, pl := range todo {
			sum.Add(bi.NotAttempted, pl.Query.ID, bi.NotAttemptedReason(ctx))
		}
		todo = nil
	}
	var backup *bi.BackupWriter
	var applyErr error
	if len(todo) > 0 {
		b, err := bi.CreateBackup(safe.backupDir, p.Kind(), s.url, command, env.Now())
		if err != nil {
			return fail(env, configError{err.Error()})
		}
		defer b.Close()
		r.Backup, backup = b, b
		fmt.Fprintf(env.Stdout, "backup: %s\n", b.Path())
		applyErr = r.Apply(ctx, todo, sum)
	}
	// The end of the run is written at once, to stderr too when stdout is
	// gone: the restore command must reach the user either way.
	var tail bytes.Buffer
	gone := errors.Is(applyErr, bi.ErrServerGone)
	if applyErr == nil || gone {
		sum.Write(&tail)
	}
	switch {
	case outputClosed(ctx):
		fmt.Fprintf(&tail, "stopped: %s; writes in flight were finished and recorded; the rest were not attempted\n", errOutputClosed)
	case ctx.Err() != nil:
		fmt.Fprintln(&tail, "interrupted: writes in flight were finished and recorded; the rest were not attempted")
	}
	if gone {
		fmt.Fprintf(&tail, "%s: %d queries not attempted; run the same command again when the server is back (queries already changed count as unchanged then)\n", applyErr, sum.Count(bi.NotAttempted))
	}
	if backup != nil {
		fmt.Fprintf(&tail, "backup: %s\nto undo this whole run: beametrics bi restore %s --apply\n", backup.Path(), shellQuote(backup.Path()))
	}
	writeTail(ctx, env, tail.Bytes())
	if applyErr != nil && !gone {
		return fail(env, applyErr)
	}
	return exitFor(sum)
}

// writeTail writes the end of a run to stdout, and to stderr too when
// stdout was closed.
func writeTail(ctx context.Context, env Env, b []byte) {
	_, _ = env.Stdout.Write(b)
	if outputClosed(ctx) {
		_, _ = env.Stderr.Write(b)
	}
}

// nothingWritten says what to do after the reads before any write failed.
func nothingWritten(err error) error {
	return fmt.Errorf("%w; nothing was written: run the same command again when the server is back", err)
}

func exitFor(sum *bi.Summary) int {
	if sum.Count(bi.Failed)+sum.Count(bi.Skipped)+sum.Count(bi.NotAttempted) > 0 {
		return ExitSomeFailed
	}
	return ExitOK
}

func recoveryCommand(id int, file string, dsID int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "beametrics bi query update %d --query-file %s", id, shellQuote(file))
	if dsID != 0 {
		fmt.Fprintf(&b, " --data-source %d", dsID)
	}
	b.WriteString(" --apply")
	return b.String()
}
