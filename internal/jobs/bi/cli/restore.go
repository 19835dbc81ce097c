package cli

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/beametrics/beametrics/internal/jobs/bi"
)

func runRestore(ctx context.Context, args []string, env Env) int {
	fs := flag.NewFlagSet("bi restore", flag.ContinueOnError)
	var conn connFlags
	conn.register(fs)
	var safe safety
	safe.register(fs)
	pos, code, ok := parse(fs, args, env)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return fail(env, configErrorf("restore takes one argument, the backup file a run printed; got %d", len(pos)))
	}
	if safe.maxChanges < 0 {
		return fail(env, configErrorf("--max-changes must not be negative"))
	}
	b, err := bi.ReadBackup(pos[0])
	if err != nil {
		return fail(env, configError{err.Error()})
	}
	// The backup names its server; settings may only agree with it.
	getenv := env.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	s, err := conn.resolveFor(getenv, b.Provider, b.URL)
	if err != nil {
		return fail(env, err)
	}
	p, err := conn.connect(s)
	if err != nil {
		return fail(env, err)
	}

	var entries []bi.BackupEntry
	var ids []int
	moved := false
	for _, e := range b.Entries {
		if e.Status == bi.Skipped {
			continue // the run never wrote it
		}
		entries = append(entries, e)
		ids = append(ids, e.ID)
		moved = moved || e.Before.DataSourceID != e.After.DataSourceID
	}
	var names dataSources
	if moved {
		if names, err = fetchDataSources(ctx, p); err != nil {
			return fail(env, err)
		}
	}
	var sum bi.Summary
	current, failed, err := bi.FetchByID(ctx, p, ids, conn.concurrency)
	for _, f := range failed {
		fmt.Fprintf(env.Stderr, "query %d: failed: %s\n", f.ID, f.Reason)
		sum.Add(bi.Failed, f.ID, f.Reason)
	}
	if err != nil {
		return fail(env, nothingWritten(err))
	}
	byID := map[int]bi.Query{}
	for _, q := range current {
		byID[q.ID] = q
	}
	var plans []bi.Plan
	for _, e := range entries {
		q, ok := byID[e.ID]
		if !ok {
			continue
		}
		pl := bi.Plan{Query: q, Target: bi.Change{SQL: e.Before.SQL, DataSourceID: e.Before.DataSourceID}}
		switch {
		case q.SQL == e.Before.SQL && q.DataSourceID == e.Before.DataSourceID:
			pl.Unchanged = true
		case q.SQL == e.After.SQL && q.DataSourceID == e.After.DataSourceID:
		default:
			pl.Skip = fmt.Sprintf("edited since the run (now updated_at %s); not overwritten; its original SQL is in %s", q.UpdatedAt, e.OriginalFile)
		}
		plans = append(plans, pl)
	}
	fmt.Fprintf(env.Stdout, "restoring %d queries of the %s run started %s on %s\n", len(entries), b.Command, b.StartedAt, b.URL)
	return execute(ctx, p, s, plans, &sum, names, safe, conn, "restore "+b.Path, env)
}

// resolveFor resolves settings for a backup's server: provider and URL come
// from the backup, and configured ones (flag, environment or profile) must
// match it, so a key meant for one server is never sent to another.
func (c *connFlags) resolveFor(getenv func(string) string, provider, url string) (settings, error) {
	s, err := c.merge(getenv)
	if err != nil {
		return s, err
	}
	if s.provider == "" {
		s.provider = provider
	}
	if s.url == "" {
		s.url = url
	}
	if s.provider != provider {
		return s, configErrorf("the backup is of a %s server but the settings say %s", provider, s.provider)
	}
	if strings.TrimRight(s.url, "/") != strings.TrimRight(url, "/") {
		return s, configErrorf("the backup was made against %s but the settings point at %s; unset them or point them at the backup's server", url, s.url)
	}
	return s, c.validate(s)
}
