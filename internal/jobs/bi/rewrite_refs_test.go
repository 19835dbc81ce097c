package bi

import (
	"regexp"
	"strings"
	"testing"
)

func TestNewRegexpReplaceRefusesMissingGroups(t *testing.T) {
	re := regexp.MustCompile(`analytics\.(events)_(?P<ver>v\d)`)
	for _, c := range []struct {
		repl string
		bad  string // substring of the error, "" when accepted
	}{
		{"analytics.${1}_v2", ""},
		{"analytics.$1", ""},
		{"$0 and ${ver}x and $ver", ""},
		{"costs $$1_v2", ""},           // $$ is a literal $
		{"a $ alone, ${ and ${}", ""},  // not references: kept as text
		{"analytics.$1_v2", "${1}_v2"}, // names the group 1_v2
		{"analytics.$verx", "${ver}x"}, // names the group verx
		{"analytics.$3", "has 2 numbered groups, named ver"},
		{"analytics.${01}", "has 2 numbered groups"}, // leading zero: a name, not a number
		{"é$ü", "names group \"ü\""},
	} {
		_, err := NewRegexpReplace(re, c.repl)
		switch {
		case c.bad == "" && err != nil:
			t.Errorf("%q refused: %v", c.repl, err)
		case c.bad != "" && (err == nil || !strings.Contains(err.Error(), c.bad)):
			t.Errorf("%q: err %v, want one mentioning %q", c.repl, err, c.bad)
		}
	}
}

// TestAcceptedReplacementsExpandEveryReference: with every group matching
// text, a template NewRegexpReplace accepts loses no reference: Expand's
// output holds the text of each group it names (regexp is the oracle).
func TestAcceptedReplacementsExpandEveryReference(t *testing.T) {
	re := regexp.MustCompile(`(A)(?P<n>B)`)
	for _, repl := range []string{"$1$n", "${1}x${n}y", "$2", "$$1", "x$1_$n"} {
		if _, err := NewRegexpReplace(re, repl); err != nil {
			continue
		}
		got := re.ReplaceAllString("AB", repl)
		refs := groupRefs(repl)
		for _, ref := range refs {
			want := map[string]string{"0": "AB", "1": "A", "2": "B", "n": "B"}[ref]
			if !strings.Contains(got, want) {
				t.Errorf("%q expands to %q, without group %s", repl, got, ref)
			}
		}
	}
}
