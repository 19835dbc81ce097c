package main

import (
	"os"
	"syscall"
)

// dieWithParent makes a Beam worker process end when its parent, the boot
// loader, ends. Runners stop a worker by killing the boot loader, and the
// Go SDK's worker otherwise waits forever after its work ("Worker exited
// successfully!"), so a local run with worker processes left one behind.
func dieWithParent() {
	const prSetPdeathsig = 1
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, prSetPdeathsig, uintptr(syscall.SIGKILL), 0)
	if os.Getppid() == 1 { // the parent was gone before the call
		os.Exit(1)
	}
}
