package configtest

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// The keys of a test file, level by level. checkKeys reports a key that
// is not one of them with its position, in the words of the README, rather
// than as the YAML decoder's Go type names.
var (
	fileKeys        = []string{"tests"}
	caseKeys        = []string{"name", "events", "messages", "expect", "dead_letters", "dropped_values", "filter_errors"}
	messageKeys     = []string{"data", "attributes", "publish_time"}
	expectationKeys = []string{"metric", "labels", "window_start", "value"}
)

// checkKeys checks the shape of a test file: mappings and lists where they
// belong, and only known keys. Each problem is FILE:LINE:COL: message.
func checkKeys(file string, root *yaml.Node) []string {
	var problems []string
	bad := func(n *yaml.Node, format string, args ...any) {
		problems = append(problems, fmt.Sprintf("%s:%d:%d: %s", file, n.Line, n.Column, fmt.Sprintf(format, args...)))
	}
	keys := func(n *yaml.Node, what string, known []string, visit func(key string, v *yaml.Node)) {
		if n.Kind != yaml.MappingNode {
			bad(n, "%s must be a mapping with keys %s", what, strings.Join(sorted(known), ", "))
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if !slices.Contains(known, k.Value) {
				bad(k, "%s: unknown key %q (known: %s)%s", what, k.Value, strings.Join(sorted(known), ", "), suggest(k.Value, known))
				continue
			}
			visit(k.Value, v)
		}
	}
	list := func(n *yaml.Node, what string, each func(*yaml.Node)) {
		if n.Tag == "!!null" {
			return
		}
		if n.Kind != yaml.SequenceNode {
			bad(n, "%s must be a list", what)
			return
		}
		for _, e := range n.Content {
			each(e)
		}
	}
	if len(root.Content) == 0 {
		return nil // an empty file: "no tests"
	}
	keys(root.Content[0], "the test file", fileKeys, func(_ string, v *yaml.Node) {
		list(v, "tests", func(cn *yaml.Node) {
			keys(cn, "a test case", caseKeys, func(key string, v *yaml.Node) {
				switch key {
				case "messages":
					list(v, "messages", func(mn *yaml.Node) { keys(mn, "a message", messageKeys, func(string, *yaml.Node) {}) })
				case "expect":
					list(v, "expect", func(en *yaml.Node) { keys(en, "an expectation", expectationKeys, func(string, *yaml.Node) {}) })
				case "events":
					list(v, "events", func(*yaml.Node) {})
				case "dead_letters", "dropped_values", "filter_errors":
					if v.Kind != yaml.MappingNode && v.Tag != "!!null" {
						bad(v, "%s must be a mapping of name to count", key)
					}
				}
			})
		})
	})
	return problems
}

// suggest names the known key a typo most likely meant: one that differs
// by a letter or two.
func suggest(key string, known []string) string {
	best, bestDist := "", 3
	for _, k := range known {
		if d := distance(key, k); d < bestDist {
			best, bestDist = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf("; did you mean %s?", best)
}

// distance is the Levenshtein distance of two short keys.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func sorted(list []string) []string {
	out := append([]string(nil), list...)
	sort.Strings(out)
	return out
}
