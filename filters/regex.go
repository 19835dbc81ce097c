package filters

import (
	"bytes"
	"regexp"
	"regexp/syntax"
	"unicode/utf8"
)

// matcher reports whether a string contains a match of a regex.
type matcher interface {
	Match(b []byte) bool
}

// compileRegex compiles an RE2 regex for unanchored matching. Most regexes
// in log filters are literals, alternations of literals and character
// classes, often anchored (`^/api/v1/(orders|items)/`, `^5\d\d$`). Those
// are matched by comparing bytes, several times faster than the regexp
// package's general machine; anything else uses regexp itself.
func compileRegex(expr string) (matcher, error) {
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, err
	}
	if m := literalPattern(expr); m != nil {
		return m, nil
	}
	return re, nil
}

// literalMatcher matches a sequence of pieces, optionally anchored.
type literalMatcher struct {
	pieces      []piece
	anchorStart bool
	anchorEnd   bool
}

// piece is one literal, one of several literals, or one rune of a class.
type piece struct {
	lit    []byte
	alts   [][]byte
	ranges []rune // pairs lo, hi; set for a class
}

// limits keep the byte matcher's backtracking small; bigger patterns go
// to regexp, which never backtracks exponentially.
const (
	maxPieces       = 32
	maxAlternatives = 1 << 12 // product of the alternatives' counts
	maxClassRunes   = 1 << 16
)

// literalPattern returns a byte matcher for expr, or nil if expr is not of
// the simple kind.
func literalPattern(expr string) *literalMatcher {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil
	}
	re = re.Simplify()
	subs := []*syntax.Regexp{re}
	if re.Op == syntax.OpConcat {
		subs = re.Sub
	}
	m := &literalMatcher{}
	if len(subs) > 0 && subs[0].Op == syntax.OpBeginText {
		m.anchorStart = true
		subs = subs[1:]
	}
	if n := len(subs); n > 0 && subs[n-1].Op == syntax.OpEndText {
		m.anchorEnd = true
		subs = subs[:n-1]
	}
	product := 1
	for _, sub := range subs {
		if !m.add(sub) {
			return nil
		}
	}
	for _, p := range m.pieces {
		if len(p.alts) > 0 {
			product *= len(p.alts)
		}
		if product > maxAlternatives {
			return nil
		}
	}
	if len(m.pieces) > maxPieces {
		return nil
	}
	return m
}

// add appends the pieces of re, reporting false if re has anything but
// literals, alternations of literals, classes and groups.
func (m *literalMatcher) add(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpEmptyMatch:
		return true
	case syntax.OpLiteral:
		lit, ok := literalBytes(re)
		if !ok {
			return false
		}
		m.pieces = append(m.pieces, piece{lit: lit})
		return true
	case syntax.OpCapture:
		return m.add(re.Sub[0])
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			if !m.add(sub) {
				return false
			}
		}
		return true
	case syntax.OpAlternate:
		var alts [][]byte
		for _, sub := range re.Sub {
			lit, ok := literalBytes(sub)
			if !ok {
				return false
			}
			alts = append(alts, lit)
		}
		m.pieces = append(m.pieces, piece{alts: alts})
		return true
	case syntax.OpCharClass:
		n := 0
		for i := 0; i < len(re.Rune); i += 2 {
			lo, hi := re.Rune[i], re.Rune[i+1]
			// regexp reads invalid UTF-8 as U+FFFD; bytes would not.
			if lo <= utf8.RuneError && utf8.RuneError <= hi {
				return false
			}
			n += int(hi-lo) + 1
		}
		if n == 0 || n > maxClassRunes {
			return false
		}
		m.pieces = append(m.pieces, piece{ranges: re.Rune})
		return true
	}
	return false
}

// literalBytes returns the UTF-8 text of a case-sensitive literal.
func literalBytes(re *syntax.Regexp) ([]byte, bool) {
	if re.Op == syntax.OpEmptyMatch {
		return []byte{}, true
	}
	if re.Op != syntax.OpLiteral || re.Flags&syntax.FoldCase != 0 {
		return nil, false
	}
	var b []byte
	for _, r := range re.Rune {
		if r == utf8.RuneError {
			return nil, false
		}
		b = utf8.AppendRune(b, r)
	}
	return b, true
}

// Match reports whether b contains a match.
func (m *literalMatcher) Match(b []byte) bool {
	if m.anchorStart {
		return m.matchAt(b, 0, 0)
	}
	if len(m.pieces) > 0 && len(m.pieces[0].lit) > 0 {
		// Only where the first literal occurs can a match start.
		lit := m.pieces[0].lit
		for from := 0; from <= len(b); {
			i := bytes.Index(b[from:], lit)
			if i < 0 {
				return false
			}
			if m.matchAt(b, 1, from+i+len(lit)) {
				return true
			}
			from += i + 1
		}
		return false
	}
	for start := 0; start <= len(b); start++ {
		if m.matchAt(b, 0, start) {
			return true
		}
	}
	return false
}

// matchAt reports whether pieces[k:] match b from offset i.
func (m *literalMatcher) matchAt(b []byte, k, i int) bool {
	for ; k < len(m.pieces); k++ {
		p := &m.pieces[k]
		switch {
		case p.lit != nil:
			if !bytes.HasPrefix(b[i:], p.lit) {
				return false
			}
			i += len(p.lit)
		case p.ranges != nil:
			if i >= len(b) {
				return false
			}
			r, size := rune(b[i]), 1
			if r >= utf8.RuneSelf {
				r, size = utf8.DecodeRune(b[i:])
			}
			if !inRanges(p.ranges, r) {
				return false
			}
			i += size
		default:
			for _, alt := range p.alts {
				if bytes.HasPrefix(b[i:], alt) && m.matchAt(b, k+1, i+len(alt)) {
					return true
				}
			}
			return false
		}
	}
	return !m.anchorEnd || i == len(b)
}

func inRanges(ranges []rune, r rune) bool {
	for i := 0; i < len(ranges); i += 2 {
		if r < ranges[i] {
			return false
		}
		if r <= ranges[i+1] {
			return true
		}
	}
	return false
}
