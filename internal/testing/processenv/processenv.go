// Package processenv runs beametrics with its Beam workers as separate
// processes, as Dataflow runs them: prism starts each worker through Beam's
// Go boot loader (the program of the Go SDK container), which fetches the
// staged worker binary and runs it. Nothing set up in the launcher process
// reaches the workers, so what passes here does not depend on sharing one.
//
// Only Go and the module cache are needed: the boot loader is built from
// the module's own Beam version, the worker binary from ./cmd/beametrics.
package processenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

const (
	bootPackage = "github.com/apache/beam/sdks/v2/go/container"
	mainPackage = "github.com/beametrics/beametrics/cmd/beametrics"
)

// Env is a built beametrics binary and a boot loader for its workers.
type Env struct {
	// Binary is beametrics, the launcher and the worker binary.
	Binary string
	// Boot is the command prism runs for each worker: Beam's boot loader
	// behind a wrapper that strips the quotes prism v2.77 puts around the
	// worker ID (--id='ID'; no shell is involved to remove them).
	Boot string
}

var (
	once   sync.Once
	env    *Env
	dir    string
	setErr error
)

// Get builds the binaries once per test binary and returns them. It skips
// the test, saying why, where Go is not on PATH.
func Get(tb testing.TB) *Env {
	tb.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		tb.Skip("skipping: the worker-process tests build beametrics and Beam's boot loader and need the go command on PATH")
	}
	once.Do(func() { env, setErr = build() })
	if setErr != nil {
		tb.Fatalf("building the worker-process environment: %v", setErr)
	}
	return env
}

// Cleanup removes what Get built; call it from TestMain after the tests.
func Cleanup() {
	if dir != "" {
		os.RemoveAll(dir)
	}
}

func build() (*Env, error) {
	var err error
	dir, err = os.MkdirTemp("", "beametrics-processenv-")
	if err != nil {
		return nil, err
	}
	e := &Env{Binary: filepath.Join(dir, "beametrics"), Boot: filepath.Join(dir, "boot-wrapper")}
	boot := filepath.Join(dir, "boot")
	// The two builds share most packages; one after the other keeps the
	// build cache useful and the machine free for the tests.
	for _, b := range []struct{ out, pkg string }{{e.Binary, mainPackage}, {boot, bootPackage}} {
		cmd := exec.Command("go", "build", "-o", b.out, b.pkg)
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build %s: %w\n%s", b.pkg, err, out)
		}
	}
	wrapper := `#!/bin/sh
# Prism starts the environment command without a shell and quotes the
# worker ID itself (--id='ID'): strip the quotes for the boot loader.
n=$#
while [ "$n" -gt 0 ]; do
  a=$1; shift; n=$((n-1))
  case $a in
    --id=\'*\') a=${a#--id=\'}; a="--id=${a%\'}" ;;
  esac
  set -- "$@" "$a"
done
# The boot loader writes pipeline_options.json into its working
# directory: keep it out of the source tree the tests run in.
cd ` + shellQuote(dir) + ` || exit 1
exec ` + shellQuote(boot) + ` "$@"
`
	if err := os.WriteFile(e.Boot, []byte(wrapper), 0o755); err != nil {
		return nil, err
	}
	return e, nil
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// Flags are the Beam flags that make prism run the workers through the
// boot loader, with Binary as the worker binary.
func (e *Env) Flags() []string {
	return []string{
		"--environment_type=PROCESS",
		`--environment_config={"command":` + fmt.Sprintf("%q", e.Boot) + `}`,
		"--worker_binary=" + e.Binary,
	}
}
