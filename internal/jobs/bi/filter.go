package bi

import (
	"regexp"
	"slices"
	"strings"
)

// Filter selects queries. Zero fields match everything.
type Filter struct {
	QueryRE *regexp.Regexp // on the SQL text
	NameRE  *regexp.Regexp
	// DataSourceID, when non-zero, keeps only queries on that data source.
	DataSourceID int
	Tag          string
}

// Match reports whether q passes the filter and, when QueryRE is set, the
// first line of the SQL it matched (the whole line, trimmed).
func (f Filter) Match(q Query) (ok bool, line string) {
	if f.NameRE != nil && !f.NameRE.MatchString(q.Name) {
		return false, ""
	}
	if f.DataSourceID != 0 && q.DataSourceID != f.DataSourceID {
		return false, ""
	}
	if f.Tag != "" && !slices.Contains(q.Tags, f.Tag) {
		return false, ""
	}
	if f.QueryRE == nil {
		return true, ""
	}
	loc := f.QueryRE.FindStringIndex(q.SQL)
	if loc == nil {
		return false, ""
	}
	start := strings.LastIndexByte(q.SQL[:loc[0]], '\n') + 1
	end := strings.IndexByte(q.SQL[loc[0]:], '\n')
	if end < 0 {
		end = len(q.SQL)
	} else {
		end += loc[0]
	}
	return true, strings.TrimSpace(q.SQL[start:end])
}
