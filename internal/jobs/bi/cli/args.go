package cli

import (
	"flag"
	"regexp"
	"strings"

	"github.com/beametrics/beametrics/internal/jobs/bi"
)

// pairFlags take two arguments each (OLD NEW), which package flag cannot
// express; they are taken out of the arguments, in order, before parsing.
var pairFlags = map[string]bool{"query-replace": true, "regexp-replace": true}

// extractRewrites removes --query-replace OLD NEW and --regexp-replace RE
// REPL from args and returns them as rewrites in command-line order. fs tells
// which other flags consume the next argument, so their values are skipped.
func extractRewrites(fs *flag.FlagSet, args []string) (rest []string, rs []bi.Rewrite, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(rest, args[i:]...), rs, nil
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			rest = append(rest, a)
			continue
		}
		name := strings.TrimLeft(a, "-")
		if eq := strings.IndexByte(name, '='); eq >= 0 {
			if pairFlags[name[:eq]] {
				return nil, nil, configErrorf("-%s takes two arguments, not name=value: --%s OLD NEW", name[:eq], name[:eq])
			}
			rest = append(rest, a)
			continue
		}
		if pairFlags[name] {
			if i+2 >= len(args) {
				return nil, nil, configErrorf("--%s needs two arguments", name)
			}
			old, repl := args[i+1], args[i+2]
			i += 2
			if name == "query-replace" {
				if old == "" {
					return nil, nil, configErrorf("--query-replace: the text to replace must not be empty")
				}
				rs = append(rs, bi.LiteralReplace{Old: old, New: repl})
				continue
			}
			re, err := regexp.Compile(old)
			if err != nil {
				return nil, nil, configErrorf("--regexp-replace: bad regexp: %v", err)
			}
			rr, err := bi.NewRegexpReplace(re, repl)
			if err != nil {
				return nil, nil, configErrorf("--regexp-replace: %v", err)
			}
			rs = append(rs, rr)
			continue
		}
		rest = append(rest, a)
		if f := fs.Lookup(name); f != nil && !isBool(f) && i+1 < len(args) {
			i++
			rest = append(rest, args[i])
		}
	}
	return rest, rs, nil
}

func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// parseInterleaved parses flags that may come before, between or after the
// positional arguments, which it returns.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// compile compiles an optional regexp flag.
func compile(flagName, expr string) (*regexp.Regexp, error) {
	if expr == "" {
		return nil, nil
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, configErrorf("--%s: bad regexp: %v", flagName, err)
	}
	return re, nil
}

// shellQuote quotes s for a POSIX shell when it needs quoting.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@%+,", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
