package filters

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// The byte matcher must agree with regexp on every pattern it takes.
func TestLiteralPatternAgreesWithRegexp(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	atoms := []string{"a", "b", "ab", "/api/", "é", "日本", "x", ".", "\\.", "\\d", "[a-c]", "[^a]", "[é-ë]",
		"(a|b)", "(orders|items)", "(?:ab|ba|)", "(a|ab)", "(?i)a", "a*", "b+", "c?", "\\b", "(?m)^", "[a-z]{2}", "\\x{FFFD}"}
	inputs := []string{"", "a", "b", "ab", "ba", "aab", "/api/v1/orders/1", "/api/", "éa", "日本語", "x.y", "5", "500", "a5b",
		"\xff", "a\xffb", "\xe6\x97", "é\xff", "ABab", "orders", "itemsorders", "abab", "ëx", "日"}
	checked, byteMatched := 0, 0
	for n := 0; n < 4000; n++ {
		var sb strings.Builder
		if rng.IntN(2) == 0 {
			sb.WriteString("^")
		}
		for k := rng.IntN(4) + 1; k > 0; k-- {
			sb.WriteString(atoms[rng.IntN(len(atoms))])
		}
		if rng.IntN(2) == 0 {
			sb.WriteString("$")
		}
		expr := sb.String()
		re, err := regexp.Compile(expr)
		if err != nil {
			continue
		}
		m := literalPattern(expr)
		if m == nil {
			continue
		}
		byteMatched++
		for _, in := range inputs {
			for _, s := range []string{in, in + in, "zz" + in + "zz"} {
				checked++
				if got, want := m.Match([]byte(s)), re.MatchString(s); got != want {
					t.Fatalf("%q on %q: byte matcher %v, regexp %v", expr, s, got, want)
				}
			}
		}
	}
	if byteMatched < 1000 {
		t.Fatalf("only %d of the generated patterns went to the byte matcher: the test checks too little", byteMatched)
	}
	t.Logf("%d patterns, %d matches compared", byteMatched, checked)
}

// Patterns the byte matcher must leave to regexp, because it cannot read
// them the same way.
func TestLiteralPatternRefuses(t *testing.T) {
	for _, expr := range []string{"(?i)abc", "a*", "a.b", "\\bword", "(?m)^a", "\\x{FFFD}", "[^a]", "(ab|c+)"} {
		if literalPattern(expr) != nil {
			t.Errorf("%q went to the byte matcher", expr)
		}
	}
	for _, expr := range []string{"^/api/v1/(orders|items)/", "^5\\d\\d$", "error", "(GET|POST) /"} {
		if literalPattern(expr) == nil {
			t.Errorf("%q should go to the byte matcher", expr)
		}
	}
}

func BenchmarkRegexCondition(b *testing.B) {
	paths := [][]byte{[]byte("/api/v1/orders/64442"), []byte("/api/v1/items/1"), []byte("/healthz"), []byte("/api/v2/users/77")}
	for _, tc := range []struct {
		name string
		m    matcher
	}{
		{"regexp", regexp.MustCompile(`^/api/v1/(orders|items)/`)},
		{"bytes", literalPattern(`^/api/v1/(orders|items)/`)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			n := 0
			for i := 0; i < b.N; i++ {
				if tc.m.Match(paths[i&3]) {
					n++
				}
			}
		})
	}
}
