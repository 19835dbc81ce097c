package pubsubname

import (
	"strings"
	"testing"
)

func TestProject(t *testing.T) {
	cases := []struct {
		name, kind, project, err string
	}{
		{"projects/p1/topics/t", "topics", "p1", ""},
		{"projects/p1/subscriptions/s", "subscriptions", "p1", ""},
		{"projects/p1/topics/t", "subscriptions", "", `subscription "projects/p1/topics/t" is not of the form projects/PROJECT/subscriptions/NAME`},
		{"projects//topics/t", "topics", "", "is not of the form"},
		{"projects/p/topics/", "topics", "", "is not of the form"},
		{"projects/p/topics/t/x", "topics", "", "is not of the form"},
		{"t", "topics", "", `topic "t" is not`},
	}
	for _, c := range cases {
		got, err := Project(c.name, c.kind)
		if c.err == "" && (err != nil || got != c.project) {
			t.Errorf("Project(%q, %q) = %q, %v; want %q", c.name, c.kind, got, err, c.project)
		}
		if c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("Project(%q, %q) error %v, want it to say %q", c.name, c.kind, err, c.err)
		}
	}
}

func TestClientOptions(t *testing.T) {
	if n := len(ClientOptions("", false)); n != 0 {
		t.Errorf("Google's endpoint with credentials: %d options, want none", n)
	}
	if n := len(ClientOptions("localhost:8085", true)); n != 4 {
		t.Errorf("an emulator: %d options, want 4 (endpoint, no auth, plaintext, no telemetry)", n)
	}
}
