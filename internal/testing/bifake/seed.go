package bifake

import "fmt"

// Generate returns n deterministic queries with ids 1..n. Every query reads
// analytics.events_v1; every fourth also joins analytics.sessions. Data
// sources cycle 1,2,3; even ids are tagged "daily", multiples of 5
// "finance". When archivedEvery > 0, each archivedEvery-th query is archived.
// Ids 25, 75, 125, ... are GUI-built (non-native) cards, which only Metabase has.
func Generate(n, archivedEvery int) []Query {
	qs := make([]Query, n)
	for i := range qs {
		id := i + 1
		join := ""
		if id%4 == 0 {
			join = "JOIN analytics.sessions AS s ON s.id = e.session_id\n"
		}
		var tags []string
		if id%2 == 0 {
			tags = append(tags, "daily")
		}
		if id%5 == 0 {
			tags = append(tags, "finance")
		}
		qs[i] = Query{
			ID:   id,
			Name: fmt.Sprintf("%s report %d", []string{"Revenue", "Signups", "Latency"}[id%3], id),
			SQL: fmt.Sprintf("-- report %d\nSELECT date_trunc('day', e.ts) AS day, count(*) AS events\n"+
				"FROM analytics.events_v1 AS e\n%sWHERE e.tenant_id = %d\nGROUP BY 1\nORDER BY 1", id, join, id%97),
			DataSourceID: id%3 + 1,
			Tags:         tags,
			Archived:     archivedEvery > 0 && id%archivedEvery == 0,
			Native:       id%50 != 25,
		}
		if id%7 == 0 {
			qs[i].TemplateTags = map[string]any{"tenant": map[string]any{"name": "tenant", "type": "number"}}
		}
	}
	return qs
}
