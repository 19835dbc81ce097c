package main

// The docs check: the flags README.md and docs/*.md name exist, and the
// commands in README's shell blocks run, or say what they need (a block
// or command preceded by a "# needs ..." comment: Google Cloud, the
// Pub/Sub emulator).

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// docFiles are the user docs the check reads.
func docFiles(t *testing.T) []string {
	t.Helper()
	docs, _ := filepath.Glob("../../docs/*.md")
	files := append([]string{"../../README.md"}, docs...)
	if len(docs) == 0 {
		t.Fatal("no docs/*.md found")
	}
	return files
}

// helpFlags returns the flags each help lists: "" for the pipeline's
// --help and --help-beam, else the subcommand (and step) named.
func helpFlags(t *testing.T) map[string]map[string]bool {
	t.Helper()
	listed := regexp.MustCompile(`(?m)^\s+--?([a-zA-Z][a-zA-Z0-9_.-]*)|--([a-zA-Z][a-zA-Z0-9_-]*)`)
	collect := func(into map[string]bool, text string) {
		for _, m := range listed.FindAllStringSubmatch(text, -1) {
			into[m[1]+m[2]] = true
		}
	}
	out := map[string]map[string]bool{"": {}}
	var b bytes.Buffer
	printMainHelp(&b)
	printBeamHelp(&b)
	collect(out[""], b.String())
	for _, f := range beamFlags() {
		out[""][f.Name] = true
	}
	var steps [][]string
	for n := range subcommands {
		steps = append(steps, []string{n})
	}
	steps = append(steps, []string{"slots", "profile"}, []string{"slots", "plan"}, []string{"guard", "plan"},
		[]string{"bi", "query"}, []string{"bi", "query", "list"}, []string{"bi", "query", "update"}, []string{"bi", "restore"})
	for _, s := range steps {
		_, help, _ := runChild(t, append(s, "-h")...)
		name := s[0]
		if out[name] == nil {
			out[name] = map[string]bool{}
		}
		collect(out[name], help)
	}
	return out
}

// external programs whose flags are theirs, not beametrics'.
var external = map[string]bool{
	"gcloud": true, "go": true, "curl": true, "jq": true, "terraform": true, "docker": true, "git": true,
	"promtool": true, "mtail": true, "gsutil": true, "bq": true, "kubectl": true, "java": true,
	"shellcheck": true, "prometheus": true, "fluentd": true, "td-agent": true, "perf": true, "valgrind": true,
}

var (
	flagRef   = regexp.MustCompile(`(^|[\s` + "`" + `(\[{'"=|,])--([a-zA-Z][a-zA-Z0-9_.-]*[a-zA-Z0-9])`)
	codeSpan  = regexp.MustCompile("`[^`]+`")
	wordRe    = regexp.MustCompile(`[A-Za-z0-9_./-]+`)
	cmdSep    = regexp.MustCompile(`\||&&|;|\$\(`)
	envAssign = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*=`)
)

// owner names whose flag a reference is, from the command text before
// it: "external" when the command it belongs to is another program's, a
// subcommand when it is beametrics SUB's, else "" (beametrics', or not
// known).
func owner(before string) string {
	segs := cmdSep.Split(before, -1)
	words := strings.Fields(segs[len(segs)-1])
	for len(words) > 0 && envAssign.MatchString(words[0]) {
		words = words[1:]
	}
	if len(words) == 0 {
		return ""
	}
	switch prog := filepath.Base(strings.Trim(words[0], "`$(")); {
	case external[prog]:
		return "external"
	case prog == "beametrics" && len(words) > 1:
		if _, ok := subcommands[words[1]]; ok {
			return words[1]
		}
	}
	return ""
}

// mentionsExternal reports whether prose names another program ("go" is
// too common a word to count).
func mentionsExternal(text string) bool {
	for _, w := range wordRe.FindAllString(strings.ToLower(text), -1) {
		if w = filepath.Base(w); external[w] && w != "go" {
			return true
		}
	}
	return false
}

// TestDocsFlagsExist: every --flag README.md and docs/*.md name is in
// beametrics --help or --help-beam, or in the help of the subcommand named
// before it; flags of other programs (gcloud, go, curl, ...) are theirs.
func TestDocsFlagsExist(t *testing.T) {
	helps := helpFlags(t)
	all := map[string]bool{}
	for _, fs := range helps {
		for f := range fs {
			all[f] = true
		}
	}
	checked := 0
	for _, file := range docFiles(t) {
		text, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(text), "\n")
		paragraphs := paragraphOf(lines)
		inBlock := false
		var logical string // a code block's command, continuations joined
		for i, line := range lines {
			if strings.HasPrefix(strings.TrimSpace(line), "```") {
				inBlock = !inBlock
				logical = ""
				continue
			}
			// The contexts of the line's references: the block's command
			// so far, or each code span, or the line.
			var contexts []string
			if inBlock {
				if prev := strings.TrimSpace(logical); !strings.HasSuffix(prev, "\\") && !strings.HasSuffix(prev, "|") {
					logical = ""
				}
				logical += " " + line
				contexts = []string{logical}
			} else {
				contexts = codeSpan.FindAllString(line, -1)
				contexts = append(contexts, codeSpan.ReplaceAllString(line, " "))
			}
			for _, c := range contexts {
				for _, loc := range flagRef.FindAllStringSubmatchIndex(c, -1) {
					name := c[loc[4]:loc[5]]
					own := owner(c[:loc[4]])
					if own == "external" {
						continue
					}
					ok := all[name]
					if own != "" {
						// validate takes the run's flags, slots profile Beam's.
						ok = helps[own][name] || (own == "validate" || own == "slots") && helps[""][name]
					}
					if !ok && own == "" && !inBlock && mentionsExternal(paragraphs[i]) {
						continue // prose about another program's flag
					}
					checked++
					if !ok {
						where := "beametrics --help, --help-beam or any subcommand's help"
						if own != "" {
							where = "beametrics " + own + " -h"
						}
						t.Errorf("%s:%d: --%s is not in %s", file, i+1, name, where)
					}
				}
			}
		}
	}
	if checked < 50 {
		t.Errorf("only %d flag references checked: the docs moved or the scan broke", checked)
	}
}

// paragraphOf returns, for each line, the paragraph it is in: lines up to
// a blank line or a code fence, a list item, a table row, a heading.
func paragraphOf(lines []string) []string {
	out := make([]string, len(lines))
	start := 0
	flush := func(end int) {
		p := strings.Join(lines[start:end], "\n")
		for j := start; j < end; j++ {
			out[j] = p
		}
	}
	for i, l := range lines {
		switch l = strings.TrimSpace(l); {
		case l == "" || strings.HasPrefix(l, "```"):
			flush(i)
			start = i + 1
		case strings.HasPrefix(l, "- ") || strings.HasPrefix(l, "* ") || strings.HasPrefix(l, "|") || strings.HasPrefix(l, "#"):
			flush(i)
			start = i
		}
	}
	flush(len(lines))
	return out
}

// readmeCommands returns the commands of README's sh blocks, one per
// logical line (continuations joined, comments dropped), each with
// whether a "# needs ..." comment marks it (or its whole block).
type docCommand struct {
	line   int
	text   string
	marked string // what it needs, when marked
}

func readmeCommands(t *testing.T) []docCommand {
	t.Helper()
	f, err := os.Open("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cmds []docCommand
	var cur *docCommand
	inBlock, blockNeeds, lineNeeds, blockFirst := false, "", "", 0
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case !inBlock && strings.HasPrefix(trimmed, "```sh"):
			inBlock, blockNeeds, lineNeeds, blockFirst = true, "", "", len(cmds)
			continue
		case inBlock && strings.HasPrefix(trimmed, "```"):
			inBlock = false
			continue
		case !inBlock:
			continue
		}
		if strings.HasPrefix(trimmed, "#") {
			// "# needs X" before the block's first command marks the
			// block; "needs X" in a comment marks the next command.
			if i := strings.Index(trimmed, "needs "); i >= 0 {
				needs := strings.TrimRight(trimmed[i:], "):")
				if strings.HasPrefix(trimmed, "# needs ") && len(cmds) == blockFirst {
					blockNeeds = needs
				}
				lineNeeds = needs
			}
			continue
		}
		if trimmed == "" {
			lineNeeds = ""
			continue
		}
		text := stripComment(line)
		if cur == nil {
			needs := blockNeeds
			if lineNeeds != "" {
				needs = lineNeeds
			}
			cmds = append(cmds, docCommand{line: n, marked: needs})
			cur = &cmds[len(cmds)-1]
		}
		cur.text += " " + strings.TrimSuffix(strings.TrimSpace(text), "\\")
		if !strings.HasSuffix(strings.TrimSpace(text), "\\") && !strings.HasSuffix(strings.TrimSpace(text), "|") {
			cur.text = strings.TrimSpace(cur.text)
			cur = nil
		}
	}
	return cmds
}

// stripComment drops a trailing " # ..." outside quotes.
func stripComment(line string) string {
	var quote rune
	for i, r := range line {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '\'' || r == '"':
			quote = r
		case r == '#' && i > 0 && (line[i-1] == ' ' || line[i-1] == '\t'):
			return line[:i]
		}
	}
	return line
}

// TestReadmeCommandsRun runs README's beametrics commands as written, in a
// directory holding what they name (bin/beametrics is this test binary,
// metrics.yaml the quick start's config, logs/ a few records), with a
// short timeout. A command that streams until Ctrl-C must print a metric
// line and exit 0 on SIGINT. Commands marked "# needs ..." are skipped;
// go's own commands are CI's.
func TestReadmeCommandsRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the README's commands, the streaming quick start among them (about 20 s)")
	}
	dir := docsFixture(t)
	cmds := readmeCommands(t)
	ran, marked := 0, 0
	for _, c := range cmds {
		text := c.text
		// "go build -o bin/beametrics ./cmd/beametrics && bin/beametrics ...":
		// the build is the test binary's.
		for strings.HasPrefix(text, "go ") {
			_, rest, ok := strings.Cut(text, "&&")
			if !ok {
				text = ""
				break
			}
			text = strings.TrimSpace(rest)
		}
		if !regexp.MustCompile(`(^|[\s|/])beametrics\s`).MatchString(text) {
			continue
		}
		if c.marked != "" {
			marked++
			t.Logf("README line %d, %s: not run: %s", c.line, c.marked, text)
			continue
		}
		ran++
		streams := !strings.Contains(text, "--input") && !strings.ContainsAny(text, "|>") &&
			regexp.MustCompile(`^\S*beametrics\s+--`).MatchString(text)
		t.Run(strings.Fields(text)[0]+" line "+strconv.Itoa(c.line), func(t *testing.T) {
			if streams {
				runUntilMetric(t, dir, text)
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "sh", "-c", text)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "PATH="+filepath.Join(dir, "bin")+":"+os.Getenv("PATH"))
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Errorf("README line %d: %s: %v\n%s", c.line, text, err, tailOf(out))
			}
		})
	}
	if ran < 3 || marked < 2 {
		t.Errorf("ran %d README commands and skipped %d marked ones; want at least 3 and 2 (the scan broke?)", ran, marked)
	}
}

// runUntilMetric runs a streaming command, waits for its first metric line
// on stdout, interrupts it as Ctrl-C does and wants exit 0.
func runUntilMetric(t *testing.T, dir, text string) {
	t.Helper()
	args := strings.Fields(text)
	if strings.ContainsAny(text, `'"$`) {
		t.Fatalf("a streaming command with quotes or variables: %s", text)
	}
	cmd := exec.Command(filepath.Join(dir, args[0]), args[1:]...)
	if !strings.Contains(args[0], "/") {
		cmd.Path = filepath.Join(dir, "bin", args[0])
	}
	cmd.Dir = dir
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	first := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case first <- sc.Text():
			default:
			}
		}
	}()
	select {
	case line := <-first:
		if !strings.HasPrefix(line, `{"metric_name":`) {
			t.Errorf("%s: first stdout line %q is not a metric", text, line)
		}
	case <-time.After(90 * time.Second):
		t.Errorf("%s: no metric line within 90 s\n%s", text, stderr.String())
	}
	_ = cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("%s: after Ctrl-C: %v, want exit 0\n%s", text, err, tailOf(stderr.Bytes()))
		}
	case <-time.After(90 * time.Second):
		_ = cmd.Process.Kill()
		t.Errorf("%s: still running 90 s after Ctrl-C", text)
	}
}

// docsFixture makes the directory README's commands run in.
func docsFixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	examples, err := filepath.Abs("../../examples")
	if err != nil {
		t.Fatal(err)
	}
	quick, err := os.ReadFile(filepath.Join(examples, "quickstart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	logs := `{"time":"2025-11-24T16:00:01Z","service":"checkout","user":"u-1","http":{"path":"/api/v1/orders/1","status":200,"bytes":100,"latency_ms":12.5}}
{"time":"2025-11-24T16:00:02Z","service":"auth","user":"u-2","http":{"path":"/login","status":503,"bytes":10,"latency_ms":800}}
not json
`
	for _, step := range []error{
		os.Mkdir(filepath.Join(dir, "bin"), 0o755),
		os.Symlink(self, filepath.Join(dir, "bin", "beametrics")),
		os.Symlink(examples, filepath.Join(dir, "examples")),
		os.WriteFile(filepath.Join(dir, "metrics.yaml"), quick, 0o644),
		os.Mkdir(filepath.Join(dir, "logs"), 0o755),
		os.WriteFile(filepath.Join(dir, "logs", "a.jsonl"), []byte(logs), 0o644),
	} {
		if step != nil {
			t.Fatal(step)
		}
	}
	return dir
}

func tailOf(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return strings.Join(lines, "\n")
}
