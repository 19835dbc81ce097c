package flaky

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// NoMessage is the signature of failed tries that carry no message.
const NoMessage = "(no message)"

// maxSignatureRunes keeps signatures readable in a table.
const maxSignatureRunes = 240

// Signature reduces a failure message or log tail to the line that explains
// the failure, with the parts that differ between occurrences of the same
// cause (ids, numbers, pod names, temporary paths, times) replaced by
// placeholders. Equal signatures mean "the same failure".
func Signature(message string) string {
	line := FailureLine(message)
	if line == "" {
		return NoMessage
	}
	s := line
	if strings.HasPrefix(s, "[") {
		s = airflowLogPrefix.ReplaceAllString(s, "")
	}
	for _, r := range rewrites {
		// Regular expressions without a literal prefix scan slowly; most
		// rules cannot match without a certain substring, so check first.
		if r.needs != "" && !strings.Contains(s, r.needs) || r.needsAny != "" && !strings.ContainsAny(s, r.needsAny) || r.gate != nil && !r.gate(s) {
			continue
		}
		if r.whole != nil {
			s = r.whole(s)
		} else if r.fn != nil {
			s = r.re.ReplaceAllStringFunc(s, r.fn)
		} else {
			s = r.re.ReplaceAllString(s, r.with)
		}
	}
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) > maxSignatureRunes {
		s = string([]rune(s)[:maxSignatureRunes]) + "…"
	}
	if s == "" {
		return NoMessage
	}
	return s
}

var (
	// Lines that name an error outright, preferred over lines that only
	// say something failed (Airflow's "Marking task as UP_FOR_RETRY" comes
	// after the exception in a log tail).
	errorLine   = regexp.MustCompile(`(?i)error|exception|evict|oomkill|timed? ?out|deadline exceeded|exceeds|exceeded|killed|refused|denied|not found|unavailable`)
	failureWord = regexp.MustCompile(`(?i)fail`)

	// "[2024-05-01, 12:00:00 UTC] {taskinstance.py:2698} ERROR - "
	airflowLogPrefix = regexp.MustCompile(`^\[[^\]]*\]\s*(\{[^}]*\}\s*)?([A-Z]+\s*-\s*)?`)
)

// FailureLine picks from a multi-line log tail the last line naming an
// error, else the last line mentioning a failure, else the last line.
func FailureLine(message string) string {
	lines := strings.Split(strings.TrimSpace(message), "\n")
	if len(lines) == 1 {
		return strings.TrimSpace(lines[0])
	}
	last, lastFail := "", ""
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if l == "" {
			continue
		}
		if last == "" {
			last = l
		}
		if errorLine.MatchString(l) {
			return l
		}
		if lastFail == "" && failureWord.MatchString(l) {
			lastFail = l
		}
	}
	if lastFail != "" {
		return lastFail
	}
	return last
}

type rewrite struct {
	re   *regexp.Regexp
	with string
	fn   func(string) string
	// whole rewrites the string without a regular expression, for the
	// rules that run on almost every message and are simple to scan.
	whole func(string) string
	// needs and needsAny: the rule can only match a string that contains
	// needs and one of the characters of needsAny.
	needs    string
	needsAny string
	// gate, if set, must also hold.
	gate func(string) bool
}

func mentionsJob(s string) bool {
	return strings.Contains(s, "job") || strings.Contains(s, "Job") || strings.Contains(s, "JOB")
}

func mentionsPod(s string) bool {
	return strings.Contains(s, "pod") || strings.Contains(s, "Pod") || strings.Contains(s, "POD")
}

func hasColonAndDot(s string) bool { return strings.Contains(s, ":") && strings.Contains(s, ".") }

func hasFourDashes(s string) bool { return strings.Count(s, "-") >= 4 }

// digitAround returns a gate that holds when sep stands between two
// digits somewhere in the string.
func digitAround(sep byte) func(string) bool {
	return func(s string) bool {
		for i := 1; i+1 < len(s); i++ {
			if s[i] == sep && isDigit(s[i-1]) && isDigit(s[i+1]) {
				return true
			}
		}
		return false
	}
}

const digits = "0123456789"

// rewrites run in order: the specific shapes first, so that the generic
// hex and number rules do not cut them up.
var rewrites = []rewrite{
	// BigQuery: "Job ID: abc", "job_id=abc", ".../jobs/abc", and
	// "project:US.abc" (a location, not a dataset, before the dot).
	{re: regexp.MustCompile(`(?i)(\bjob[ _]?id['"]?\s*[:=]\s*['"]?|/jobs/)[A-Za-z0-9_.:-]+`), with: "${1}<job>", gate: mentionsJob},
	{re: regexp.MustCompile(`\b[a-z][a-z0-9-]{3,}:(?:[A-Z]{2}|[a-z]+-[a-z]+\d+)\.[A-Za-z0-9_-]+`), with: "<job>", gate: hasColonAndDot},
	{re: regexp.MustCompile(`(?i)\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b`), with: "<uuid>", gate: hasFourDashes},
	// 2024-05-01T12:00:00.123+00:00, 2024-05-01 12:00:00,123, 2024-05-01, 12:00:00 UTC
	{re: regexp.MustCompile(`\b\d{4}-\d{2}-\d{2}(?:(?:T|,? )\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?)?(?:\s?(?:Z|UTC|[+-]\d{2}(?::?\d{2})?))?`), with: "<ts>", gate: digitAround('-')},
	{re: regexp.MustCompile(`\b\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?\b`), with: "<time>", gate: digitAround(':')},
	// Temporary files and directories: tempfile names are random.
	{re: regexp.MustCompile(`(/var)?/tmp/[^\s'",;:)\]}]+`), with: "${1}/tmp/<path>", needs: "/tmp/"},
	// Kubernetes pods: "pod airflow/etl-load-x7k2m9qp", `Pod "name-abc12"`.
	{re: regexp.MustCompile(`(?i)(\bpods?[\s/:"']+)(?:[a-z0-9-]+/)?[a-z0-9]+(?:[-.][a-z0-9]+)+`), with: "${1}<pod>", gate: mentionsPod},
	{re: regexp.MustCompile(`\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b`), with: "<ip>", gate: digitAround('.')},
	{re: regexp.MustCompile(`\b0x[0-9a-fA-F]+\b`), with: "<hex>", needs: "0x"},
	// Names ending in a random suffix (ReplicaSet pods, KubernetesPodOperator
	// pods, Dataproc clusters): keep the stable prefix.
	{re: regexp.MustCompile(`\b([a-z][a-z0-9]*(?:-[a-z0-9]+)*?)((?:-[a-z0-9]{5,10})+)\b`), fn: collapseRandomSuffix, needs: "-", needsAny: digits},
	{whole: collapseHexRuns, needsAny: digits},
	// Numbers, except digits that are part of a name (psycopg2, v2, k8s).
	{whole: collapseNumbers, needsAny: digits},
}

var randomSuffixPart = regexp.MustCompile(`-[a-z0-9]{5,10}`)

// collapseRandomSuffix replaces trailing "-xxxxx" segments that mix letters
// and digits (as generated suffixes do) with "-<id>".
func collapseRandomSuffix(name string) string {
	parts := randomSuffixPart.FindAllStringIndex(name, -1)
	cut := len(name)
	for i := len(parts) - 1; i >= 0; i-- {
		p := parts[i]
		if p[1] != cut || !mixesLettersAndDigits(name[p[0]+1:p[1]]) {
			break
		}
		cut = p[0]
	}
	if cut == len(name) || cut == 0 {
		return name
	}
	return name[:cut] + "-<id>"
}

// collapseHexRuns replaces runs of 8 or more hex digits that mix digits and
// letters (words and plain numbers do not) with <hex>.
func collapseHexRuns(s string) string {
	var b strings.Builder
	start := -1
	flush := func(end int) {
		if start < 0 {
			return
		}
		if run := s[start:end]; len(run) >= 8 && mixesLettersAndDigits(run) {
			b.WriteString("<hex>")
		} else {
			b.WriteString(run)
		}
		start = -1
	}
	for i := 0; i < len(s); i++ {
		if isHex(s[i]) {
			if start < 0 {
				start = i
			}
			continue
		}
		flush(i)
		b.WriteByte(s[i])
	}
	flush(len(s))
	return b.String()
}

// collapseNumbers replaces numbers (123, 3.5) with <n>, except digits that
// continue a name (psycopg2, v2, k8s) or a dotted version.
func collapseNumbers(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if !isDigit(c) || i > 0 && (isAlnum(s[i-1]) || s[i-1] == '.') {
			b.WriteByte(c)
			i++
			continue
		}
		j := i
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		if j+1 < len(s) && s[j] == '.' && isDigit(s[j+1]) {
			for j++; j < len(s) && isDigit(s[j]); j++ {
			}
		}
		b.WriteString("<n>")
		i = j
	}
	return b.String()
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isHex(c byte) bool   { return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }
func isAlnum(c byte) bool { return isDigit(c) || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func mixesLettersAndDigits(s string) bool {
	var letter, digit bool
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			digit = true
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
			letter = true
		}
	}
	return letter && digit
}
