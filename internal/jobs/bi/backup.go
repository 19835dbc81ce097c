package bi

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// A backup is a directory holding backup.jsonl, one JSON object a line, and
// original/query-ID.sql with each changed query's original SQL. Lines:
//
//	{"type":"run", ...}                          once, first
//	{"type":"change","id":..,"before":..,"after":..}  written before each write is sent
//	{"type":"result","id":..,"status":"changed"|"skipped"|"failed", ...}  after it
//
// A change line always precedes its write, so a run stopped at any point
// (Ctrl-C, a crash) leaves a record of every write it may have made; restore
// compares each with the server's current state before touching it.
const (
	BackupFileName = "backup.jsonl"
	originalDir    = "original"
)

// State is the part of a query a run changes.
type State struct {
	SQL          string `json:"query"`
	DataSourceID int    `json:"data_source_id"`
	Version      int    `json:"version,omitempty"`
	UpdatedAt    string `json:"updated_at,omitempty"`
}

type backupLine struct {
	Type string `json:"type"`
	// run
	Provider  string `json:"provider,omitempty"`
	URL       string `json:"url,omitempty"`
	Command   string `json:"command,omitempty"`
	StartedAt string `json:"started_at,omitempty"`
	// change, result
	ID           int    `json:"id,omitempty"`
	Name         string `json:"name,omitempty"`
	Before       *State `json:"before,omitempty"`
	After        *State `json:"after,omitempty"`
	OriginalFile string `json:"original_file,omitempty"`
	At           string `json:"at,omitempty"`
	Status       string `json:"status,omitempty"`
	Reason       string `json:"reason,omitempty"`
	NewVersion   int    `json:"new_version,omitempty"`
}

// BackupWriter appends to a backup. Each line goes to the file in a single
// write without buffering, so it survives the process being killed.
type BackupWriter struct {
	mu  sync.Mutex
	dir string
	f   *os.File
}

// CreateBackup makes a new backup directory under parent, named after the
// provider and the time, and writes the run line.
func CreateBackup(parent, provider, url, command string, now time.Time) (*BackupWriter, error) {
	parent, err := filepath.Abs(parent)
	if err != nil {
		return nil, fmt.Errorf("backup directory: %w", err)
	}
	// MkdirTemp adds a random suffix: two runs in the same millisecond
	// still get their own directories.
	dir, err := os.MkdirTemp(parent, fmt.Sprintf("bi-backup-%s-%s-", provider, now.UTC().Format("20060102T150405Z")))
	if err != nil {
		return nil, fmt.Errorf("creating backup directory: %w", err)
	}
	if err := os.Mkdir(filepath.Join(dir, originalDir), 0o700); err != nil {
		return nil, fmt.Errorf("creating backup directory: %w", err)
	}
	// O_EXCL: never append to another run's backup.
	f, err := os.OpenFile(filepath.Join(dir, BackupFileName), os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("creating backup file: %w", err)
	}
	w := &BackupWriter{dir: dir, f: f}
	if err := w.write(backupLine{Type: "run", Provider: provider, URL: url, Command: command, StartedAt: now.UTC().Format(time.RFC3339)}); err != nil {
		f.Close()
		return nil, err
	}
	return w, nil
}

// Path is the backup file's path, the argument restore takes.
func (w *BackupWriter) Path() string { return filepath.Join(w.dir, BackupFileName) }

func (w *BackupWriter) write(l backupLine) error {
	b, err := json.Marshal(l)
	if err != nil {
		return fmt.Errorf("encoding backup line: %w", err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, err := w.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("writing backup %s: %w", w.Path(), err)
	}
	return nil
}

// SaveOriginal writes q's original SQL to its own file, the one its
// recovery command reads, and returns the file's path.
func (w *BackupWriter) SaveOriginal(q Query) (string, error) {
	file := filepath.Join(w.dir, originalDir, "query-"+strconv.Itoa(q.ID)+".sql")
	if err := os.WriteFile(file, []byte(q.SQL), 0o600); err != nil {
		return "", fmt.Errorf("saving original of query %d: %w", q.ID, err)
	}
	return file, nil
}

// AppendChange appends the before and after states of q, whose original
// SaveOriginal saved to file.
func (w *BackupWriter) AppendChange(q Query, ch Change, file string) error {
	return w.write(backupLine{
		Type: "change", ID: q.ID, Name: q.Name, OriginalFile: filepath.Join(originalDir, filepath.Base(file)),
		Before: &State{SQL: q.SQL, DataSourceID: q.DataSourceID, Version: q.Version, UpdatedAt: q.UpdatedAt},
		After:  &State{SQL: ch.SQL, DataSourceID: ch.DataSourceID},
		At:     time.Now().UTC().Format(time.RFC3339Nano),
	})
}

// RecordResult appends the outcome of a write.
func (w *BackupWriter) RecordResult(id int, status, reason string, newVersion int) error {
	return w.write(backupLine{Type: "result", ID: id, Status: status, Reason: reason, NewVersion: newVersion, At: time.Now().UTC().Format(time.RFC3339Nano)})
}

// Close closes the file.
func (w *BackupWriter) Close() error { return w.f.Close() }

// BackupEntry is one query a run changed, or may have changed.
type BackupEntry struct {
	ID            int
	Name          string
	Before, After State
	// OriginalFile is the absolute path of the saved original SQL.
	OriginalFile string
	// Status is the recorded result, or "" when the run stopped before
	// recording one (the write may or may not have reached the server).
	Status string
}

// Backup is a backup as read back.
type Backup struct {
	Path, Provider, URL, Command, StartedAt string
	Entries                                 []BackupEntry
}

// ReadBackup parses a backup file. Any malformed line is an error naming its
// line number: a restore must not guess.
func ReadBackup(path string) (Backup, error) {
	f, err := os.Open(path)
	if err != nil {
		return Backup{}, fmt.Errorf("opening backup: %w", err)
	}
	defer f.Close()
	b := Backup{Path: path}
	byID := map[int]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 64*1024*1024)
	n := 0
	for sc.Scan() {
		n++
		if len(sc.Bytes()) == 0 {
			continue
		}
		var l backupLine
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil {
			return Backup{}, fmt.Errorf("%s line %d: not a backup record: %w", path, n, err)
		}
		switch l.Type {
		case "run":
			if n != 1 {
				return Backup{}, fmt.Errorf("%s line %d: a second run record; is this two backups joined together?", path, n)
			}
			b.Provider, b.URL, b.Command, b.StartedAt = l.Provider, l.URL, l.Command, l.StartedAt
		case "change":
			if l.Before == nil || l.After == nil || l.ID == 0 {
				return Backup{}, fmt.Errorf("%s line %d: change record without id, before or after", path, n)
			}
			e := BackupEntry{ID: l.ID, Name: l.Name, Before: *l.Before, After: *l.After, OriginalFile: filepath.Join(filepath.Dir(path), l.OriginalFile)}
			if i, dup := byID[l.ID]; dup {
				return Backup{}, fmt.Errorf("%s line %d: query %d changed twice in one run (first at entry %d)", path, n, l.ID, i+1)
			}
			byID[l.ID] = len(b.Entries)
			b.Entries = append(b.Entries, e)
		case "result":
			i, ok := byID[l.ID]
			if !ok {
				return Backup{}, fmt.Errorf("%s line %d: result for query %d before its change record", path, n, l.ID)
			}
			b.Entries[i].Status = l.Status
		default:
			return Backup{}, fmt.Errorf("%s line %d: unknown record type %q", path, n, l.Type)
		}
	}
	if err := sc.Err(); err != nil {
		return Backup{}, fmt.Errorf("reading backup %s: %w", path, err)
	}
	if b.Provider == "" {
		return Backup{}, errors.New(path + ": no run record on line 1; not a beametrics bi backup")
	}
	return b, nil
}
