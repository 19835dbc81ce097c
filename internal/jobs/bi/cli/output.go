package cli

import (
	"context"
	"errors"
	"io"
	"os/signal"
	"sync"
	"syscall"
)

// errOutputClosed is why a run stops when the reader of its standard output
// goes away, as `| head` does.
var errOutputClosed = errors.New("standard output was closed by its reader")

// ignoreSIGPIPE makes a write to a closed pipe fail with EPIPE instead of
// killing the process: by default Go ends a program whose write to file
// descriptor 1 or 2 hits a closed pipe, here with exit 141 in the middle of
// the writes, without the summary or the restore command.
func ignoreSIGPIPE() { signal.Ignore(syscall.SIGPIPE) }

// outputWatch passes writes on to w until one fails because its reader went
// away (EPIPE); then it calls gone once and drops the rest of the output, so
// the command can stop cleanly and say so on standard error.
type outputWatch struct {
	w      io.Writer
	gone   func()
	mu     sync.Mutex
	closed bool
}

func (o *outputWatch) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return len(p), nil
	}
	n, err := o.w.Write(p)
	if errors.Is(err, syscall.EPIPE) {
		o.closed = true
		o.gone()
		return len(p), nil
	}
	return n, err
}

// outputClosed reports whether the command's context was stopped because
// standard output was closed.
func outputClosed(ctx context.Context) bool {
	return errors.Is(context.Cause(ctx), errOutputClosed)
}
