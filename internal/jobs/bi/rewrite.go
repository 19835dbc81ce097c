package bi

import (
	"fmt"
	"regexp"
	"strings"
)

// Rewrite is one text change applied to a query's SQL.
type Rewrite interface {
	Apply(sql string) string
	String() string
}

// LiteralReplace replaces every occurrence of Old with New.
type LiteralReplace struct{ Old, New string }

// Apply implements Rewrite.
func (r LiteralReplace) Apply(sql string) string { return strings.ReplaceAll(sql, r.Old, r.New) }

func (r LiteralReplace) String() string { return fmt.Sprintf("replace %q with %q", r.Old, r.New) }

// RegexpReplace replaces every match of RE with Repl, where $1, ${name}
// expand to the groups of the match (regexp.Regexp.ReplaceAllString).
type RegexpReplace struct {
	RE   *regexp.Regexp
	Repl string
}

// Apply implements Rewrite.
func (r RegexpReplace) Apply(sql string) string { return r.RE.ReplaceAllString(sql, r.Repl) }

func (r RegexpReplace) String() string { return fmt.Sprintf("replace /%s/ with %q", r.RE, r.Repl) }

// WholeText replaces the entire SQL.
type WholeText struct{ SQL string }

// Apply implements Rewrite.
func (r WholeText) Apply(string) string { return r.SQL }

func (r WholeText) String() string { return "replace the whole text" }

// ApplyAll runs the rewrites in order, each on the result of the previous.
func ApplyAll(sql string, rs []Rewrite) string {
	for _, r := range rs {
		sql = r.Apply(sql)
	}
	return sql
}
