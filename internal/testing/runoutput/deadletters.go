package runoutput

import (
	"errors"
	"testing"
	"time"
)

// DeadLetter is one line that transforms/deadletter writes to a file.
type DeadLetter struct {
	Reason string    `json:"reason"`
	Detail string    `json:"detail"`
	Source string    `json:"source"`
	Time   time.Time `json:"time"`
	// Text holds the original bytes when they are valid UTF-8, Base64
	// otherwise.
	Text   *string `json:"data"`
	Base64 []byte  `json:"data_base64"`
}

// Data is the original bytes.
func (l DeadLetter) Data() []byte {
	if l.Text != nil {
		return []byte(*l.Text)
	}
	return l.Base64
}

// ParseDeadLetter reads one line strictly: a field the writer does not
// write, or the data in both forms, is an error.
func ParseDeadLetter(line []byte) (DeadLetter, error) {
	var l DeadLetter
	if err := decodeStrict(line, &l); err != nil {
		return l, err
	}
	if l.Text != nil && l.Base64 != nil {
		return l, errors.New("both data and data_base64")
	}
	return l, nil
}

// ReadDeadLetters returns the dead letters of the file at path in their
// order. A file that cannot be read, or a line that is not a whole dead
// letter, fails t.
func ReadDeadLetters(t testing.TB, path string) []DeadLetter {
	t.Helper()
	return readLines(t, path, false, ParseDeadLetter)
}
