package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// `beametrics generate | head`: the reader closes the pipe after a few
// lines, and generate ends with 0 and says nothing, instead of being
// killed by SIGPIPE (exit 141 in a shell, a failure under pipefail).
func TestGenerateIntoAClosedPipeExits0(t *testing.T) {
	a, _ := json.Marshal([]string{"generate", "--count", "10000000"})
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childArgsEnv+"="+string(a))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(out)
	for range 3 {
		line, err := r.ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "{") {
			t.Fatalf("line %q, %v; want a JSON log line", line, err)
		}
	}
	out.Close()
	err = cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("generate into a closed pipe: %v (exit %d), want exit 0; stderr: %s", err, code, stderr.String())
	}
	if stderr.Len() > 0 {
		t.Errorf("generate into a closed pipe printed %q, want nothing", stderr.String())
	}
}
