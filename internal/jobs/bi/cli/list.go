package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"text/tabwriter"
)

func runList(ctx context.Context, args []string, env Env) int {
	fs := flag.NewFlagSet("bi query list", flag.ContinueOnError)
	var conn connFlags
	conn.register(fs)
	var sel selection
	sel.register(fs, "data-source")
	format := fs.String("format", "ids", "output: ids (one per line), table, or jsonl (id, name, data source, updated_at, first matching line)")
	pos, code, ok := parse(fs, args, env)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return fail(env, configErrorf("query list takes no arguments, got %q", pos))
	}
	if *format != "ids" && *format != "table" && *format != "jsonl" {
		return fail(env, configErrorf("--format %q: want ids, table or jsonl", *format))
	}
	p, _, err := setup(&conn, env)
	if err != nil {
		return fail(env, err)
	}
	ds := cachedDataSources(ctx, p)
	qs, lines, err := sel.listSelected(ctx, p, ds, "data-source", env)
	if err != nil {
		return fail(env, err)
	}
	var names dataSources
	if *format != "ids" {
		if names, err = ds(); err != nil {
			return fail(env, err)
		}
	}
	switch *format {
	case "ids":
		for _, q := range qs {
			fmt.Fprintln(env.Stdout, q.ID)
		}
	case "table":
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tDATA SOURCE\tUPDATED\tNAME\tMATCH")
		for _, q := range qs {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", q.ID, names.label(q.DataSourceID), q.UpdatedAt, q.Name, lines[q.ID])
		}
		tw.Flush()
	case "jsonl":
		enc := json.NewEncoder(env.Stdout)
		for _, q := range qs {
			_ = enc.Encode(struct {
				ID             int    `json:"id"`
				Name           string `json:"name"`
				DataSourceID   int    `json:"data_source_id"`
				DataSource     string `json:"data_source"`
				UpdatedAt      string `json:"updated_at"`
				FirstMatchLine string `json:"first_matching_line,omitempty"`
			}{q.ID, q.Name, q.DataSourceID, names.name(q.DataSourceID), q.UpdatedAt, lines[q.ID]})
		}
	}
	return ExitOK
}
