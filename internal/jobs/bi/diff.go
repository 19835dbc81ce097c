package bi

import (
	"fmt"
	"strings"

	udiff "github.com/aymanbagabas/go-udiff"
)

// DiffContextLines is the number of unchanged lines shown around a change.
const DiffContextLines = 3

// Diff returns a unified diff (Myers) of one query's SQL, labelled with the
// query id, plus a line for a data source move. It is empty when nothing
// changes.
func Diff(id int, before, after string, dsBefore, dsAfter string) string {
	var b strings.Builder
	if dsBefore != dsAfter {
		fmt.Fprintf(&b, "query %d: data source %s -> %s\n", id, dsBefore, dsAfter)
	}
	if before == after {
		return b.String()
	}
	edits := udiff.Lines(before, after)
	u, err := udiff.ToUnified(fmt.Sprintf("query/%d (before)", id), fmt.Sprintf("query/%d (after)", id), before, edits, DiffContextLines)
	if err != nil {
		// The edits come from the same two strings, so this means a bug in
		// the diff library; show the texts rather than nothing.
		fmt.Fprintf(&b, "query %d: cannot build a diff (%v)\n--- before\n%s\n+++ after\n%s\n", id, err, before, after)
		return b.String()
	}
	b.WriteString(u)
	return b.String()
}
