package bi

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"
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

// NewRegexpReplace checks that every group repl names ($1, $name, ${name})
// exists in re. regexp expands a missing group to nothing, so a slip such
// as "$1_v2" (which names the group "1_v2") would silently drop text from
// every query it rewrites.
func NewRegexpReplace(re *regexp.Regexp, repl string) (RegexpReplace, error) {
	for _, ref := range groupRefs(repl) {
		if hasGroup(re, ref) {
			continue
		}
		msg := fmt.Sprintf("replacement %q names group %q, which /%s/ does not have", repl, ref, re)
		if p := longestGroupPrefix(re, ref); p != "" && strings.Trim(ref, "0123456789") != "" {
			msg += fmt.Sprintf("; for group %s followed by %q write ${%s}%s", p, ref[len(p):], p, ref[len(p):])
		} else {
			msg += fmt.Sprintf(" (it has %d numbered groups%s); write $$ for a literal $", re.NumSubexp(), namedGroups(re))
		}
		return RegexpReplace{}, errors.New(msg)
	}
	return RegexpReplace{RE: re, Repl: repl}, nil
}

// groupRefs returns the group names a replacement template refers to, read
// as regexp.Regexp.Expand reads them: $$ is a literal $, ${name} and $name
// (the longest run of letters, digits and _) name a group, and anything
// else after $ is kept as text.
func groupRefs(tmpl string) []string {
	var refs []string
	for {
		i := strings.IndexByte(tmpl, '$')
		if i < 0 || i+1 >= len(tmpl) {
			return refs
		}
		tmpl = tmpl[i+1:]
		if tmpl[0] == '$' {
			tmpl = tmpl[1:]
			continue
		}
		brace := tmpl[0] == '{'
		rest := tmpl
		if brace {
			rest = tmpl[1:]
		}
		n := strings.IndexFunc(rest, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '_' })
		if n < 0 {
			n = len(rest)
		}
		if n == 0 || brace && (n >= len(rest) || rest[n] != '}') {
			continue // not a reference: Expand keeps the $ as text
		}
		refs = append(refs, rest[:n])
		tmpl = rest[n:]
	}
}

// hasGroup reports whether ref (a number or a name) is a group of re, by
// Expand's rules: digits without a leading zero are a number.
func hasGroup(re *regexp.Regexp, ref string) bool {
	if n, err := strconv.Atoi(ref); err == nil && n >= 0 && (ref == "0" || ref[0] != '0') && strings.Trim(ref, "0123456789") == "" {
		return n <= re.NumSubexp()
	}
	return ref != "" && re.SubexpIndex(ref) >= 0
}

// longestGroupPrefix returns the longest prefix of ref that is a group of
// re, or "".
func longestGroupPrefix(re *regexp.Regexp, ref string) string {
	for n := len(ref) - 1; n > 0; n-- {
		if hasGroup(re, ref[:n]) {
			return ref[:n]
		}
	}
	return ""
}

func namedGroups(re *regexp.Regexp) string {
	var names []string
	for _, n := range re.SubexpNames() {
		if n != "" {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return ""
	}
	return ", named " + strings.Join(names, ", ")
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
