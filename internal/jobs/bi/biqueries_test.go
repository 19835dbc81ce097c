package bi

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestRewritesApplyInOrder(t *testing.T) {
	rs := []Rewrite{
		LiteralReplace{Old: "events_v1", New: "events_v2"},
		RegexpReplace{RE: regexp.MustCompile(`events_(v\d)`), Repl: "ev_${1}_x"},
		LiteralReplace{Old: "$1", New: "dollar"},
	}
	got := ApplyAll("FROM events_v1 JOIN events_v1 -- $1", rs)
	if want := "FROM ev_v2_x JOIN ev_v2_x -- dollar"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := ApplyAll("a", []Rewrite{WholeText{SQL: "b\n"}}); got != "b\n" {
		t.Errorf("whole text: %q", got)
	}
}

func TestFilterFirstMatchingLine(t *testing.T) {
	q := Query{ID: 1, Name: "Revenue", SQL: "SELECT 1\nFROM  t.events  \nJOIN t.events e2", DataSourceID: 2, Tags: []string{"a"}}
	cases := []struct {
		f    Filter
		ok   bool
		line string
	}{
		{Filter{QueryRE: regexp.MustCompile(`t\.events`)}, true, "FROM  t.events"},
		{Filter{QueryRE: regexp.MustCompile(`SELECT`)}, true, "SELECT 1"},
		{Filter{QueryRE: regexp.MustCompile(`e2$`)}, true, "JOIN t.events e2"},
		{Filter{QueryRE: regexp.MustCompile(`nope`)}, false, ""},
		{Filter{NameRE: regexp.MustCompile(`^Rev`), DataSourceID: 2, Tag: "a"}, true, ""},
		{Filter{DataSourceID: 3}, false, ""},
		{Filter{Tag: "b"}, false, ""},
	}
	for i, c := range cases {
		ok, line := c.f.Match(q)
		if ok != c.ok || line != c.line {
			t.Errorf("case %d: got %v %q, want %v %q", i, ok, line, c.ok, c.line)
		}
	}
}

func TestDiffIsUnifiedWithContext(t *testing.T) {
	before := "a\nb\nc\nd\ne\nf\ng\nh\ni\n"
	after := "a\nb\nc\nd\nE\nf\ng\nh\ni\n"
	want := "--- query/7 (before)\n+++ query/7 (after)\n@@ -2,7 +2,7 @@\n b\n c\n d\n-e\n+E\n f\n g\n h\n"
	if got := Diff(7, before, after, "1", "1"); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if got := Diff(7, "x", "x", "1", "1"); got != "" {
		t.Errorf("no change gave %q", got)
	}
}

func TestBackupRoundTrip(t *testing.T) {
	dir := t.TempDir()
	w, err := CreateBackup(dir, "redash", "http://r", "query update", time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	q := Query{ID: 5, Name: "n", SQL: "SELECT 'it''s'\n", DataSourceID: 1, Version: 3}
	file, err := recordChange(w, q, Change{SQL: "SELECT 2", DataSourceID: 2})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(file); string(b) != q.SQL {
		t.Errorf("original file holds %q", b)
	}
	if _, err := recordChange(w, Query{ID: 6, SQL: "x"}, Change{SQL: "y"}); err != nil {
		t.Fatal(err)
	}
	if err := w.RecordResult(5, Changed, "", 4); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if fi, _ := os.Stat(w.Path()); fi.Mode().Perm() != 0o600 {
		t.Errorf("backup mode %v, want 0600", fi.Mode().Perm())
	}
	b, err := ReadBackup(w.Path())
	if err != nil {
		t.Fatal(err)
	}
	if b.Provider != "redash" || b.URL != "http://r" || len(b.Entries) != 2 {
		t.Fatalf("read back %+v", b)
	}
	e := b.Entries[0]
	if e.ID != 5 || e.Before.SQL != q.SQL || e.Before.Version != 3 || e.After.DataSourceID != 2 || e.Status != Changed || e.OriginalFile != file {
		t.Errorf("entry %+v", e)
	}
	if b.Entries[1].Status != "" {
		t.Errorf("entry without a result has status %q", b.Entries[1].Status)
	}
}

func TestReadBackupRejectsBadInput(t *testing.T) {
	cases := map[string]string{
		"": "no run record",
		`{"type":"change","id":1,"before":{"query":"a"},"after":{"query":"b"}}`:      "no run record",
		"{\"type\":\"run\",\"provider\":\"redash\"}\n{\"type\":\"result\",\"id\":3}": "line 2: result for query 3 before its change",
		"{\"type\":\"run\",\"provider\":\"redash\"}\n{\"type\":\"change\",\"id\":3}": "line 2: change record without",
		"{\"type\":\"run\",\"provider\":\"redash\"}\n{\"type\":\"nope\"}":            `unknown record type "nope"`,
		"{\"type\":\"run\",\"provider\":\"redash\",\"extra\":1}":                     "line 1: not a backup record",
	}
	for content, want := range cases {
		path := filepath.Join(t.TempDir(), "b.jsonl")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := ReadBackup(path)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want %q", content, err, want)
		}
	}
}

// TestReadBackupKeepsTheCause: callers can tell a missing backup file and
// a malformed line by their causes, not only by the text.
func TestReadBackupKeepsTheCause(t *testing.T) {
	if _, err := ReadBackup(filepath.Join(t.TempDir(), "none.jsonl")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want it to wrap fs.ErrNotExist", err)
	}
	path := filepath.Join(t.TempDir(), "b.jsonl")
	if err := os.WriteFile(path, []byte("{\"type\":\"run\",\"provider\":\"redash\"}\n{not json}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var syntax *json.SyntaxError
	if _, err := ReadBackup(path); !errors.As(err, &syntax) {
		t.Errorf("malformed line: %v, want it to wrap a *json.SyntaxError", err)
	}
}

// recordChange saves q's original and appends the change, as apply does.
func recordChange(w *BackupWriter, q Query, ch Change) (string, error) {
	file, err := w.SaveOriginal(q)
	if err != nil {
		return "", err
	}
	return file, w.AppendChange(q, ch, file)
}
